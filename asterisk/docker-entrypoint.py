#!/usr/bin/env python3
"""Entrypoint of asterisk/Dockerfile: render Parley's Asterisk configuration from the
environment, then run Asterisk in the foreground in place of this process.

It renders with `parley.telephony.asterisk_config.render()` and the templates in
asterisk/templates, the code behind `parley asterisk-config`. It does not run that
command because the command makes up a fresh AMI secret on every run and binds SIP to
loopback; a container needs the secret the engine already has and SIP on every address.

The environment (every secret comes from it, none is in the image):

- `PARLEY_AMI_URL` (required): the engine's own setting, `ami://user:secret@127.0.0.1:port`.
  AMI listens on loopback and lets in only that address (manager.conf), so the engine
  shares this container's network namespace (docker-compose.yml) and nothing else
  reaches AMI.
- `PARLEY_FASTAGI_HOST`, `PARLEY_FASTAGI_PORT`: where the dialplan reaches the engine's
  FastAGI server, the engine's settings (default 127.0.0.1:4573).
- `ASTERISK_SIP_HOST` (default 0.0.0.0), `ASTERISK_SIP_PORT` (5060),
  `ASTERISK_RTP_START`/`ASTERISK_RTP_END` (10000-10099: a range small enough to publish).
- `ASTERISK_PHONES`: the agents' SIP phones, `name:password,name:password`.
- `ASTERISK_TRUNK`: the carrier, `host[:port]`; `ASTERISK_TRUNK_USERNAME` and
  `ASTERISK_TRUNK_PASSWORD` when it asks for registration credentials.
- `ASTERISK_CONFIG_DIR` (default /var/lib/parley-asterisk), `ASTERISK_RUN_DIR` (default
  <dir>/run), `ASTERISK_PREFIX` (default /opt/parley-asterisk).

`--render-only` writes the configuration and exits (the image's build check uses it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from parley.telephony.asterisk_config import (
    AmiAccount,
    AsteriskConfig,
    AsteriskDirs,
    SipPhone,
    SipTrunk,
    render,
)

LOOPBACK = "127.0.0.1"


class ConfigError(ValueError):
    """The environment does not describe a configuration that can run."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None


def _ami(env: Mapping[str, str]) -> AmiAccount:
    url = env.get("PARLEY_AMI_URL", "").strip()
    if not url:
        raise ConfigError("PARLEY_AMI_URL is not set: ami://parley:<secret>@127.0.0.1:5038")
    parts = urlsplit(url)
    try:
        port = parts.port or 5038
    except ValueError:
        raise ConfigError("PARLEY_AMI_URL has a port that is not a number") from None
    if parts.scheme != "ami" or not parts.username or not parts.password:
        raise ConfigError("PARLEY_AMI_URL reads ami://user:secret@127.0.0.1:port")
    if parts.hostname != LOOPBACK:
        raise ConfigError(
            f"PARLEY_AMI_URL names {parts.hostname!r}: AMI listens on {LOOPBACK} only, "
            "for an engine that shares this container's network"
        )
    return AmiAccount(port=port, username=unquote(parts.username), secret=unquote(parts.password))


def _phones(env: Mapping[str, str]) -> tuple[SipPhone, ...]:
    phones = []
    for entry in env.get("ASTERISK_PHONES", "").split(","):
        if not entry.strip():
            continue
        name, separator, password = entry.strip().partition(":")
        if not separator or not password:
            raise ConfigError(f"ASTERISK_PHONES entry {name!r} reads name:password")
        phones.append(SipPhone(name, password))
    return tuple(phones)


def _trunk(env: Mapping[str, str]) -> SipTrunk | None:
    address = env.get("ASTERISK_TRUNK", "").strip()
    if not address:
        return None
    host, _, port = address.partition(":")
    try:
        number = int(port) if port else 5060
    except ValueError:
        raise ConfigError(f"ASTERISK_TRUNK={address!r} reads host[:port]") from None
    return SipTrunk(
        "carrier",
        host,
        number,
        username=env.get("ASTERISK_TRUNK_USERNAME", ""),
        password=env.get("ASTERISK_TRUNK_PASSWORD", ""),
    )


def config_from_env(env: Mapping[str, str]) -> AsteriskConfig:
    """The configuration `env` describes; ConfigError (a ValueError) when it is wrong."""
    base = Path(env.get("ASTERISK_CONFIG_DIR", "") or "/var/lib/parley-asterisk")
    run = Path(env.get("ASTERISK_RUN_DIR", "") or base / "run")
    fastagi_host = env.get("PARLEY_FASTAGI_HOST", "").strip() or LOOPBACK
    fastagi_port = _port(env, "PARLEY_FASTAGI_PORT", 4573)
    return AsteriskConfig(
        dirs=AsteriskDirs(base=base.resolve(), run=run.resolve()),
        ami=_ami(env),
        sip_host=env.get("ASTERISK_SIP_HOST", "").strip() or "0.0.0.0",  # noqa: S104
        sip_port=_port(env, "ASTERISK_SIP_PORT", 5060),
        rtp_start=_port(env, "ASTERISK_RTP_START", 10000),
        rtp_end=_port(env, "ASTERISK_RTP_END", 10099),
        prefix=Path(env.get("ASTERISK_PREFIX", "") or "/opt/parley-asterisk"),
        phones=_phones(env),
        trunk=_trunk(env),
        fastagi_url=f"agi://{fastagi_host}:{fastagi_port}/inbound",
    )


def main(argv: list[str]) -> int:
    try:
        config = config_from_env(os.environ)
    except ValueError as exc:
        print(f"parley-asterisk: {exc}", file=sys.stderr)
        return 2
    conf = render(config)
    print(f"parley-asterisk: configuration written to {conf.parent}", file=sys.stderr)
    if "--render-only" in argv:
        return 0
    asterisk = str(config.prefix / "sbin" / "asterisk")
    # -f: stay in the foreground (the container's main process); -n: no colour codes in
    # the container's log; -C: Parley's configuration.
    os.execv(asterisk, [asterisk, "-f", "-n", "-C", str(conf)])  # noqa: S606
    return 1  # not reached: execv replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
