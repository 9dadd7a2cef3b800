"""A problem found in a room's files, named by file and line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem: `scenes/peak.yaml:12: bls.tappers.speed_hz 5.0 is above ...`."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class RoomConfigError(Exception):
    """The room's files are not valid; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda issue: (issue.file, issue.line or 0))
        super().__init__("\n".join(str(issue) for issue in self.issues))
