"""A real Asterisk for the voice tests: the one `asterisk/install.sh` builds, run with
Parley's configuration rendered into a temporary directory, AMI and SIP on free ports.

The fixture waits for AMI to answer and Asterisk to report `FullyBooted` with a plain
socket of its own, so it does not lean on the connector the tests are about. A test can
stop, kill and start the instance again on the same ports and directories.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.telephony.ami import AmiEndpoint
from parley.telephony.asterisk_config import (
    AmiAccount,
    AsteriskConfig,
    AsteriskDirs,
    SipPhone,
    SipTrunk,
    render,
)

PREFIX = Path(os.environ.get("PARLEY_ASTERISK_PREFIX", "/opt/parley-asterisk"))
BINARY = PREFIX / "sbin" / "asterisk"
BOOT_TIMEOUT = 30.0


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


class Asterisk:
    """One Asterisk process, started and stopped by the test."""

    def __init__(self, binary: Path, config: AsteriskConfig) -> None:
        self.binary = binary
        self.config = config
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
            self.process = subprocess.Popen(
                [str(self.binary), "-f", "-n", "-C", str(self.config.dirs.asterisk_conf)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_fully_booted(time.monotonic() + BOOT_TIMEOUT)
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
                pytest.fail(f"Asterisk exited with {self.process.returncode}\n{self.logs()}")
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
        pytest.fail(
            f"Asterisk not FullyBooted within {BOOT_TIMEOUT} s ({last_error})\n{self.logs()}"
        )


@pytest.fixture(scope="session")
def asterisk_binary() -> Path:
    if not os.access(BINARY, os.X_OK):
        pytest.skip(f"Asterisk is not installed in {PREFIX}: run asterisk/install.sh (as root)")
    return BINARY


@pytest.fixture
def asterisk_config(tmp_path: Path) -> Iterator[AsteriskConfig]:
    # The control socket lives in the run directory, and Unix socket paths are short.
    run_dir = Path(tempfile.mkdtemp(prefix="parley-ast-"))
    config = AsteriskConfig(
        dirs=AsteriskDirs(base=tmp_path / "asterisk", run=run_dir),
        ami=AmiAccount(port=free_port(), username="parley", secret=secrets.token_hex(16)),
        sip_port=free_port(socket.SOCK_DGRAM),
        prefix=PREFIX,
        phones=(SipPhone("agent-1001", secrets.token_hex(8)),),
        trunk=SipTrunk("carrier", "192.0.2.10"),  # TEST-NET-1: nothing is sent there
    )
    yield config
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def asterisk(asterisk_binary: Path, asterisk_config: AsteriskConfig) -> Iterator[Asterisk]:
    """A booted Asterisk with Parley's configuration, stopped after the test."""
    render(asterisk_config)
    write_hold_tone(asterisk_config.dirs.moh / "parley-hold.sln")
    instance = Asterisk(asterisk_binary, asterisk_config)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
