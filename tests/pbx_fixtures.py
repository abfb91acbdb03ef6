"""Asterisk for the tests that need one (a pytest plugin of tests/conftest.py, so the
voice tests and the browser tests share it): the installation `asterisk/install.sh` made,
run with Parley's configuration in a temporary directory, AMI and SIP on free ports
(`parley.telephony.pbx`). Skipped, with the reason, where Asterisk is not installed.

`pbx` adds FastAGI pointing at `agi_port` and a test context of agents' devices
(`parley-test-phones`): one answers and stays on the line, one rings and never answers,
one is a customer who talks (a tone) once connected, extension 200 answers (a party to
consult, dialled as digits), `dial200` dials it (as the outbound context dials out) and
`press2` is a customer who presses 2 in a menu.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import wave
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parley.telephony.asterisk_config import (
    AmiAccount,
    AsteriskConfig,
    AsteriskDirs,
    SipPhone,
    SipTrunk,
    render,
)
from parley.telephony.pbx import Asterisk, free_port, write_hold_tone

BARESIP = shutil.which("baresip")
PREFIX = Path(os.environ.get("PARLEY_ASTERISK_PREFIX", "/opt/parley-asterisk"))
BINARY = PREFIX / "sbin" / "asterisk"


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


ANSWERS = "Local/answer@parley-test-phones/n"
NEVER_ANSWERS = "Local/noanswer@parley-test-phones/n"
TEST_PHONES = """
[parley-test-phones]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => noanswer,1,Ringing()
 same => n,Wait(60)
 same => n,Hangup()
exten => 200,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => dial200,1,Dial(Local/200@parley-test-phones/n)
 same => n,Hangup()
exten => press2,1,Answer()
 same => n,Wait(1.5)
 same => n,SendDTMF(2)
 same => n,Wait(120)
 same => n,Hangup()
exten => talker,1,Answer()
 same => n,Playtones(440/300,0/200)
 same => n,Wait(120)
 same => n,Hangup()
"""


async def until(predicate: Callable[[], bool], seconds: float = 20) -> None:
    """Wait for `predicate()`, which reads the engine, the call model or the events."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {seconds} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def agi_port() -> int:
    return free_port()


@pytest.fixture
def pbx(
    asterisk_binary: Path, asterisk_config: AsteriskConfig, agi_port: int
) -> Iterator[Asterisk]:
    config = dataclasses.replace(asterisk_config, fastagi_url=f"agi://127.0.0.1:{agi_port}/inbound")
    render(config)
    (config.dirs.etc / "extensions_custom.conf").write_text(TEST_PHONES)
    write_hold_tone(config.dirs.moh / "parley-hold.sln")
    instance = Asterisk(asterisk_binary, config)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


class Baresip:
    """Debian's baresip as an agent's desk phone: registered to the test Asterisk as the
    configuration's first SIP phone, answering every call at once and sending back what
    it hears (its audio devices are a bridge between its own player and source)."""

    def __init__(self, config: AsteriskConfig, home: Path) -> None:
        phone = config.phones[0]
        self.name = phone.name
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text(
            "\n".join(
                (
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
                    "audio_player aubridge,nil",
                    "audio_source aubridge,nil",  # what it hears, it sends back
                    "audio_alert aubridge,nil",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aubridge.so",
                    "module_app account.so",
                    "module_app menu.so",  # answers calls (answermode=auto)
                    "",
                )
            )
        )
        (home / "accounts").write_text(
            f"<sip:{phone.name}@127.0.0.1:{config.sip_port}>;auth_pass={phone.password}"
            ";answermode=auto;regint=3600\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def device(self) -> str:
        return f"PJSIP/{self.name}"

    def start(self) -> None:
        with (self.home / "baresip.log").open("ab") as log:
            self.process = subprocess.Popen(
                [BARESIP, "-f", str(self.home)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def log(self) -> str:
        return (self.home / "baresip.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def sip_phone(asterisk_config: AsteriskConfig, tmp_path: Path) -> Iterator[Baresip]:
    if BARESIP is None:
        pytest.skip("baresip is not installed: run scripts/install-baresip (as root)")
    phone = Baresip(asterisk_config, tmp_path / "baresip")
    try:
        yield phone
    finally:
        phone.stop()


def loudness(path: Path) -> float:
    """The root mean square of a 16-bit recording's samples."""
    with wave.open(str(path)) as recording:
        assert recording.getsampwidth() == 2
        samples = array("h", recording.readframes(recording.getnframes()))
    return math.sqrt(sum(sample * sample for sample in samples) / max(1, len(samples)))
