"""A real Mosquitto broker on a free loopback port, which tests can stop and restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

START_DEADLINE_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process bound to 127.0.0.1:port, anonymous, no persistence.

    `extra_config` is appended to the configuration file; later lines override earlier ones
    (e.g. `allow_anonymous false` with a `password_file`, or TLS files for the listener).
    Started as root, mosquitto switches to the `mosquitto` user, which cannot read files under
    pytest's private tmp dirs; add `user root` to keep it as the invoking user (no effect when
    not run as root).
    """

    def __init__(
        self,
        binary: str,
        workdir: Path,
        port: int | None = None,
        *,
        extra_config: str = "",
        config: str | None = None,
        other_ports: tuple[int, ...] = (),
        verbose: bool = True,
    ) -> None:
        """`config`, when given, is the whole configuration (its listeners include `port`);
        `start()` also waits for the listeners on `other_ports`. `verbose` logs every
        message (for the tests' failure reports; benchmarks turn it off, as it costs)."""
        self.binary = binary
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.config_file = workdir / f"mosquitto-{self.port}.conf"
        self.log_file = workdir / f"mosquitto-{self.port}.log"
        if config is None:
            config = (
                f"listener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "max_queued_messages 10000\n"
                "set_tcp_nodelay true\n"
            )
        self.config_file.write_text(config + extra_config)
        self.other_ports = other_ports
        self.verbose = verbose
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_file), *(["-v"] if self.verbose else [])],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while not all(port_accepts(port) for port in (self.port, *self.other_ports)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mosquitto did not start on port {self.port}:\n{self.log_file.read_text()}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Stop the process (SIGSTOP) with its connections open: to its clients, a broker gone
        silent (its host still takes their bytes); `resume` lets it go on."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)
