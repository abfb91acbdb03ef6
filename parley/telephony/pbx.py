"""Running a local Asterisk with Parley's configuration: the one `asterisk/install.sh`
builds, its configuration rendered into a directory of the caller's, AMI and SIP on the
ports the configuration names (free ones, for tests and benchmarks).

`start()` waits for AMI to answer and Asterisk to report `FullyBooted` with a plain socket
of its own, so it does not lean on the connector that talks to it afterwards. The process
can be stopped, killed and started again on the same ports and directories.
"""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import time
from array import array
from pathlib import Path

from parley.telephony.ami import AmiEndpoint
from parley.telephony.asterisk_config import AsteriskConfig


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_hold_tone(path: Path, seconds: float = 2.0) -> None:
    """A quiet 440 Hz tone as 8 kHz signed linear, so music on hold has a file to play
    without a sound pack."""
    rate = 8000
    samples = array(
        "h",
        (int(3000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(rate * seconds))),
    )
    path.write_bytes(samples.tobytes())


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path.name} was not written)"


class AsteriskFailed(RuntimeError):
    """Asterisk exited or did not finish booting; the message ends with its logs."""


class Asterisk:
    """One Asterisk process with a rendered configuration, started and stopped by its
    owner (a test, a benchmark, the demo)."""

    def __init__(self, binary: Path, config: AsteriskConfig, boot_timeout: float = 30.0) -> None:
        self.binary = binary
        self.config = config
        self.boot_timeout = boot_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.console_log = config.dirs.log / "console.log"

    @property
    def endpoint(self) -> AmiEndpoint:
        ami = self.config.ami
        return AmiEndpoint(ami.host, ami.port, ami.username, ami.secret)

    def start(self) -> None:
        """Start Asterisk in the foreground (no console) and wait until it has booted."""
        assert self.process is None, "already running"
        with self.console_log.open("ab") as console:
            # The binary is this installation's own (asterisk/install.sh), not user input.
            self.process = subprocess.Popen(  # noqa: S603
                [str(self.binary), "-f", "-n", "-C", str(self.config.dirs.asterisk_conf)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_fully_booted(time.monotonic() + self.boot_timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down as an operator would (SIGTERM); kill it if it does not exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """End it with no goodbye: no Hangup events, no Shutdown, sockets just close."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def logs(self) -> str:
        return (
            f"--- last lines of messages.log\n{_tail(self.config.dirs.messages_log)}\n"
            f"--- last lines of console output\n{_tail(self.console_log)}"
        )

    def _wait_fully_booted(self, deadline: float) -> None:
        ami = self.config.ami
        login = (
            f"Action: Login\r\nUsername: {ami.username}\r\nSecret: {ami.secret}\r\n"
            "Events: system\r\n\r\n"
        ).encode()
        last_error = "AMI never answered"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AsteriskFailed(
                    f"Asterisk exited with {self.process.returncode}\n{self.logs()}"
                )
            try:
                with socket.create_connection((ami.host, ami.port), timeout=1) as sock:
                    sock.settimeout(max(0.1, deadline - time.monotonic()))
                    sock.sendall(login)
                    received = b""
                    while b"Event: FullyBooted" not in received:
                        chunk = sock.recv(4096)
                        if not chunk:
                            raise ConnectionError(f"AMI closed the connection: {received!r}")
                        received += chunk
                    sock.sendall(b"Action: Logoff\r\n\r\n")
                    return
            except OSError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.1)
        raise AsteriskFailed(
            f"Asterisk not FullyBooted within {self.boot_timeout} s ({last_error})\n{self.logs()}"
        )
