"""The Asterisk image's entrypoint (asterisk/docker-entrypoint.py) on the real Asterisk
asterisk/install.sh built: with the environment docker-compose.yml gives the `asterisk`
service (its ports swapped for free ones), it renders the configuration, becomes Asterisk
in the foreground, and the engine's own AMI connector logs in with the engine's
PARLEY_AMI_URL, the one both services share."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from parley.telephony.ami import AmiConnector
from parley.telephony.pbx import free_port
from parley.telephony.voice import parse_ami_url

ROOT = Path(__file__).resolve().parents[3]
ENTRYPOINT = ROOT / "asterisk" / "docker-entrypoint.py"
AMI_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def _compose_environment(ami_port: int) -> dict[str, str]:
    """The asterisk service's environment, as compose would pass it with the AMI secret
    set, the AMI port moved to a free one (the machine may run other Asterisks)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = {
        str(name): str(value)
        for name, value in compose["services"]["asterisk"]["environment"].items()
    }
    url = environment["PARLEY_AMI_URL"]
    head, _, _ = url.partition("${ASTERISK_AMI_SECRET")
    assert head == "ami://parley:", url
    environment["PARLEY_AMI_URL"] = f"ami://parley:{AMI_SECRET}@127.0.0.1:{ami_port}"
    return {name: value for name, value in environment.items() if "${" not in value}


@pytest.fixture
def entrypoint_asterisk(asterisk_binary: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    run_dir = Path(tempfile.mkdtemp(prefix="parley-ast-"))  # a short socket path
    environment = {
        **_compose_environment(free_port()),
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "ASTERISK_CONFIG_DIR": str(tmp_path / "asterisk"),
        "ASTERISK_RUN_DIR": str(run_dir),
        "ASTERISK_PREFIX": str(asterisk_binary.parents[1]),
        "ASTERISK_SIP_HOST": "127.0.0.1",
        "ASTERISK_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "ASTERISK_PHONES": "agent-1001:pw1001secret",
    }
    console = (tmp_path / "console.log").open("wb")
    # The entrypoint execs Asterisk: this process becomes it.
    process = subprocess.Popen(
        [sys.executable, str(ENTRYPOINT)],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield environment
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        console.close()
        shutil.rmtree(run_dir, ignore_errors=True)


async def test_the_engine_logs_in_to_the_asterisk_the_entrypoint_runs(
    entrypoint_asterisk: dict[str, str], tmp_path: Path
) -> None:
    connector = AmiConnector(
        parse_ami_url(entrypoint_asterisk["PARLEY_AMI_URL"]),
        backoff_initial=0.1,
        backoff_max=0.5,
    )
    await connector.start()
    try:
        async with asyncio.timeout(30):
            await connector.wait_until(lambda: connector.is_ready)
        settings = await connector.send({"Action": "CoreSettings"})
        assert settings["AsteriskVersion"].startswith("22.")
        endpoints = await connector.send({"Action": "PJSIPShowEndpoints"})
        assert {m["ObjectName"] for m in endpoints if m.event == "EndpointList"} == {"agent-1001"}
        dialplan = await connector.send(
            {"Action": "Command", "Command": "dialplan show parley-inbound"}
        )
        agi = f"agi://127.0.0.1:{entrypoint_asterisk['PARLEY_FASTAGI_PORT']}/inbound"
        assert any(agi in line for line in dialplan["Output"])
    finally:
        await connector.stop()
    manager = (tmp_path / "asterisk" / "etc" / "manager.conf").read_text()
    assert "bindaddr = 127.0.0.1" in manager
