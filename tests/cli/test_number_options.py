"""Number options (seconds, speeds, time scales) take finite numbers only.

click's FloatRange lets `nan` through any bounds and `inf` through a range open above:
`run --time-scale nan` reached the engine's clock and ended in a traceback, `facility retire
--timeout nan` waited no time and said the broker could not be reached.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from controller.cli import main
from tests.conftest import REPO

CONFIG = str(REPO / "config.yaml")


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--config", CONFIG, "--broker", "embedded", "--time-scale"],
        ["replay", "--config", CONFIG, "session-1", "--speed"],
        ["facility", "retire", "--config", CONFIG, "--broker", "mqtt://127.0.0.1:1", "--timeout"],
    ],
)
def test_nan_for_a_number_option_is_a_usage_error(arguments: list[str]) -> None:
    """(Commands that end at once when given it: a console or a simulation would run on.)"""
    result = CliRunner().invoke(main, [*arguments, "nan"])

    assert result.exit_code == 2, result.output
    assert "'nan' is not a finite number." in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
