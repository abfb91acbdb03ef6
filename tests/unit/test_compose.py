"""docker-compose.yml and the Asterisk image's entrypoint, read as they ship: the Parley
services share one image and one secret key, voice (asterisk, media) is wired to the
engine, AMI is published nowhere, and every PARLEY_* name is a real setting."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from parley.platform.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENTRYPOINT = ROOT / "asterisk" / "docker-entrypoint.py"
PARLEY_SERVICES = {"web", "engine", "media", "worker", "beat"}
OTHER_SERVICES = {"postgres", "redis", "asterisk"}
SETTING_NAMES = {f"PARLEY_{name.upper()}" for name in Settings.model_fields}
# ${NAME}, ${NAME:-default}, ${NAME:?error}: what compose substitutes from the environment.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<rest>[^}]*))?\}")
ENVIRONMENT = {"PARLEY_SECRET_KEY": "k" * 48, "ASTERISK_AMI_SECRET": "a1b2c3d4e5f6"}


def _interpolate(value: str, environment: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if name in environment:
            return environment[name]
        if match["op"] and match["op"].endswith("?"):
            raise KeyError(f"{name} is required")
        return match["rest"] or ""

    return INTERPOLATION.sub(substitute, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parley_asterisk_entrypoint", ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(entry.partition("=")[::2] for entry in raw)
    return {str(key): str(value) for key, value in raw.items()}


def _container_ports(service: dict[str, Any]) -> set[int]:
    """Every container port a service publishes (short syntax, ranges included)."""
    ports: set[int] = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            target = str(entry["target"])
        else:
            target = str(entry).split("/")[0].rsplit(":", 1)[-1]
        first, _, last = target.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def test_the_services_of_the_stack_are_all_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == PARLEY_SERVICES | OTHER_SERVICES


def test_every_parley_service_runs_one_image_with_one_secret_key(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name]["image"] for name in PARLEY_SERVICES}
    builds = {str(services[name]["build"]) for name in PARLEY_SERVICES}
    keys = {_environment(services[name]).get("PARLEY_SECRET_KEY") for name in PARLEY_SERVICES}
    assert images == {"parley:dev"}
    assert builds == {"."}
    assert len(keys) == 1
    (key,) = keys
    assert key is not None and key.startswith("${PARLEY_SECRET_KEY:?")


def test_media_runs_the_media_role_only(services: dict[str, dict[str, Any]]) -> None:
    media = services["media"]
    environment = _environment(media)
    assert media["command"] == ["parley", "serve", "--roles", "media"]
    assert environment["PARLEY_ROLES"] == "media"
    # Host network: aiortc picks random UDP ports (no range to publish).
    assert media["network_mode"] == "host"
    assert environment["PARLEY_MEDIA_PORT"] != "0"  # Asterisk must know where to dial
    # Its HTTP port must not collide with `web`'s, published on the same host.
    web_ports = {str(entry).rsplit(":", 1)[0] for entry in services["web"]["ports"]}
    assert f"127.0.0.1:{environment['PARLEY_PORT']}" not in web_ports


def test_asterisk_reaches_the_media_gateway_by_the_name_it_announces(
    services: dict[str, dict[str, Any]],
) -> None:
    media_host = _environment(services["media"])["PARLEY_MEDIA_HOST"]
    extra_hosts = {entry.split(":", 1)[0] for entry in services["asterisk"]["extra_hosts"]}
    assert media_host in extra_hosts


def test_the_engine_drives_the_asterisk_service(services: dict[str, dict[str, Any]]) -> None:
    engine, asterisk = services["engine"], services["asterisk"]
    assert asterisk["build"]["dockerfile"] == "asterisk/Dockerfile"
    # AMI listens on loopback only (manager.conf permits only its own address): the
    # engine lives in the asterisk service's network namespace and logs in there.
    assert engine["network_mode"] == "service:asterisk"
    assert engine["depends_on"]["asterisk"]["condition"] == "service_healthy"
    ami = _environment(engine)["PARLEY_AMI_URL"]
    assert _environment(asterisk)["PARLEY_AMI_URL"] == ami
    assert urlsplit(_interpolate(ami, ENVIRONMENT)).hostname == "127.0.0.1"
    for name in ("PARLEY_FASTAGI_HOST", "PARLEY_FASTAGI_PORT"):
        assert _environment(engine)[name] == _environment(asterisk)[name]
    # Asterisk writes recordings and voicemail where the engine tells it.
    assert set(engine["volumes"]) & set(asterisk["volumes"])


def test_no_service_publishes_ami(services: dict[str, dict[str, Any]]) -> None:
    ami = urlsplit(_interpolate(_environment(services["engine"])["PARLEY_AMI_URL"], ENVIRONMENT))
    assert ami.port is not None
    for name, service in services.items():
        assert ami.port not in _container_ports(service), name
    # On the host's network, loopback would be the host's own.
    assert "network_mode" not in services["asterisk"]


def test_the_ami_secret_is_required_and_not_written_down(compose: dict[str, Any]) -> None:
    ami = _environment(compose["services"]["engine"])["PARLEY_AMI_URL"]
    assert "${ASTERISK_AMI_SECRET:?" in ami
    with pytest.raises(KeyError, match="ASTERISK_AMI_SECRET"):
        _interpolate(ami, {"PARLEY_SECRET_KEY": "k"})


def test_every_parley_variable_is_a_setting() -> None:
    names = set(re.findall(r"\bPARLEY_[A-Z0-9_]+", COMPOSE.read_text(encoding="utf-8")))
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        names.update(re.findall(r"\b(PARLEY_[A-Z0-9_]+)=", line))
    assert names, "no PARLEY_* variable found"
    assert names <= SETTING_NAMES, sorted(names - SETTING_NAMES)


def test_every_asterisk_variable_is_read_by_the_entrypoint(
    services: dict[str, dict[str, Any]],
) -> None:
    source = ENTRYPOINT.read_text(encoding="utf-8")
    for name in _environment(services["asterisk"]):
        assert f'"{name}"' in source, name


def _asterisk_environment(
    services: dict[str, dict[str, Any]], tmp_path: Path, **extra: str
) -> dict[str, str]:
    environment = {
        name: _interpolate(value, ENVIRONMENT)
        for name, value in _environment(services["asterisk"]).items()
    }
    environment["ASTERISK_CONFIG_DIR"] = str(tmp_path / "asterisk")
    environment.update(extra)
    return environment


def test_the_entrypoint_renders_what_compose_publishes(
    services: dict[str, dict[str, Any]], entrypoint: ModuleType, tmp_path: Path
) -> None:
    environment = _asterisk_environment(
        services, tmp_path, ASTERISK_PHONES="agent-1001:pw1001,agent-1002:pw1002"
    )
    config = entrypoint.config_from_env(environment)
    etc = entrypoint.render(config).parent
    manager = (etc / "manager.conf").read_text()
    assert "bindaddr = 127.0.0.1" in manager
    assert "permit = 127.0.0.1/255.255.255.255" in manager
    assert f"secret = {ENVIRONMENT['ASTERISK_AMI_SECRET']}" in manager
    assert "bind = 0.0.0.0:5060" in (etc / "pjsip.conf").read_text()
    assert "password = pw1002" in (etc / "pjsip.conf").read_text()
    assert "AGI(agi://127.0.0.1:4573/inbound)" in (etc / "extensions.conf").read_text()
    published = _container_ports(services["asterisk"])
    assert config.sip_port in published
    assert set(range(config.rtp_start, config.rtp_end + 1)) <= published


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"PARLEY_AMI_URL": ""}, "PARLEY_AMI_URL is not set"),
        ({"PARLEY_AMI_URL": "ami://parley:s3cret@asterisk:5038"}, "listens on 127.0.0.1 only"),
        ({"PARLEY_AMI_URL": "http://parley:s3cret@127.0.0.1:5038"}, "reads ami://"),
        ({"PARLEY_AMI_URL": "ami://parley@127.0.0.1:5038"}, "reads ami://"),
        ({"PARLEY_AMI_URL": "ami://parley:s;x@127.0.0.1:5038"}, "AMI secret"),
        ({"ASTERISK_PHONES": "agent-1001"}, "reads name:password"),
        ({"ASTERISK_PHONES": "agent 1:pw"}, "SIP phone name"),
        ({"ASTERISK_TRUNK": "carrier.example:sip"}, "reads host\\[:port\\]"),
        ({"ASTERISK_SIP_PORT": "five"}, "not a port number"),
        ({"ASTERISK_RTP_START": "10100"}, "RTP range"),
    ],
)
def test_the_entrypoint_refuses_a_wrong_environment(
    services: dict[str, dict[str, Any]],
    entrypoint: ModuleType,
    tmp_path: Path,
    extra: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        entrypoint.config_from_env(_asterisk_environment(services, tmp_path, **extra))


def test_the_entrypoint_script_renders_and_says_what_is_wrong(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    environment = {"PYTHONPATH": str(ROOT), **_asterisk_environment(services, tmp_path)}
    rendered = subprocess.run(
        [sys.executable, str(ENTRYPOINT), "--render-only"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "asterisk" / "etc" / "asterisk.conf").is_file()
    refused = subprocess.run(
        [sys.executable, str(ENTRYPOINT), "--render-only"],
        env={**environment, "PARLEY_AMI_URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "PARLEY_AMI_URL is not set" in refused.stderr
