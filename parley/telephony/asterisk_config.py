"""Asterisk's configuration for Parley, rendered from the templates in `asterisk/templates`.

Parley runs Asterisk with a configuration of its own: every directory Asterisk writes to
sits under one base directory, AMI listens on loopback for one Parley user, and the
dialplan holds only the contexts Parley moves calls between (ARCHITECTURE.md §7). The
same rendering serves the test fixtures (free ports, a temporary directory) and a
deployment (fixed ports, a data directory).

Every value that ends up in a configuration file is checked here, at the edge: a name or
secret with a newline or a `;` would otherwise rewrite the file it lands in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "asterisk" / "templates"
DEFAULT_PREFIX = Path("/opt/parley-asterisk")

_TOKEN = re.compile(r"[A-Za-z0-9._+-]{1,80}")
_HOST = re.compile(r"[A-Za-z0-9.:-]{1,253}")
_FASTAGI_URL = re.compile(r"agi://[A-Za-z0-9.:-]{1,253}(/[\w.-]*)?")


def _check(kind: str, value: str, pattern: re.Pattern[str] = _TOKEN) -> None:
    if not pattern.fullmatch(value):
        raise ValueError(f"{kind} {value!r} may hold only letters, digits and . _ + -")


def _check_port(kind: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"{kind} {port} is not a TCP/UDP port")


@dataclass(frozen=True)
class AmiAccount:
    """Where AMI listens and the one user Parley logs in as."""

    port: int
    username: str
    secret: str = field(repr=False)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        _check_port("AMI port", self.port)
        _check("AMI username", self.username)
        _check("AMI secret", self.secret)
        _check("AMI host", self.host, _HOST)


@dataclass(frozen=True)
class SipPhone:
    """An agent's SIP phone registering to Asterisk (endpoint, auth and aor of one name)."""

    name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        _check("SIP phone name", self.name)
        _check("SIP phone password", self.password)


@dataclass(frozen=True)
class SipTrunk:
    """The carrier: where outbound calls go and whose inbound calls Parley accepts."""

    name: str
    host: str
    port: int = 5060
    username: str = ""
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check("SIP trunk name", self.name)
        _check("SIP trunk host", self.host, _HOST)
        _check_port("SIP trunk port", self.port)
        if self.username or self.password:
            _check("SIP trunk username", self.username)
            _check("SIP trunk password", self.password)


@dataclass(frozen=True)
class AsteriskDirs:
    """The directories of one Asterisk instance, all under `base` except the run
    directory, which holds a Unix socket and so must have a short path (108 bytes)."""

    base: Path
    run: Path

    @property
    def etc(self) -> Path:
        return self.base / "etc"

    @property
    def lib(self) -> Path:
        return self.base / "lib"

    @property
    def spool(self) -> Path:
        return self.base / "spool"

    @property
    def log(self) -> Path:
        return self.base / "log"

    @property
    def cache(self) -> Path:
        return self.base / "cache"

    @property
    def moh(self) -> Path:
        return self.base / "moh"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def messages_log(self) -> Path:
        return self.log / "messages.log"


@dataclass(frozen=True)
class AsteriskConfig:
    """Everything the templates need for one Asterisk instance."""

    dirs: AsteriskDirs
    ami: AmiAccount
    sip_port: int
    sip_host: str = "127.0.0.1"
    rtp_start: int = 10000
    rtp_end: int = 20000
    prefix: Path = DEFAULT_PREFIX
    phones: tuple[SipPhone, ...] = ()
    trunk: SipTrunk | None = None
    fastagi_url: str = ""

    def __post_init__(self) -> None:
        _check_port("SIP port", self.sip_port)
        _check("SIP host", self.sip_host, _HOST)
        _check_port("RTP start", self.rtp_start)
        _check_port("RTP end", self.rtp_end)
        if self.rtp_start >= self.rtp_end:
            raise ValueError(f"RTP range {self.rtp_start}-{self.rtp_end} is empty")
        if self.fastagi_url and not _FASTAGI_URL.fullmatch(self.fastagi_url):
            raise ValueError(f"FastAGI URL {self.fastagi_url!r} is not agi://host[:port][/name]")


def render(config: AsteriskConfig, templates_dir: Path = TEMPLATES_DIR) -> Path:
    """Write the configuration files and create the directories Asterisk expects;
    returns the path to give `asterisk -C`. Rendering again overwrites the files."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=False,  # noqa: S701 (Asterisk configuration, not HTML)
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    dirs = config.dirs
    for directory in (dirs.etc, dirs.lib, dirs.spool, dirs.log, dirs.cache, dirs.moh, dirs.run):
        directory.mkdir(parents=True, exist_ok=True)
    context = {
        "dirs": dirs,
        "prefix": config.prefix,
        "ami": config.ami,
        "sip": {"host": config.sip_host, "port": config.sip_port},
        "rtp": {"start": config.rtp_start, "end": config.rtp_end},
        "moh_dir": dirs.moh,
        "phones": config.phones,
        "trunk": config.trunk,
        "fastagi_url": config.fastagi_url,
    }
    names = sorted(name for name in environment.list_templates() if name.endswith(".conf.j2"))
    if "asterisk.conf.j2" not in names:
        raise FileNotFoundError(f"no asterisk.conf.j2 in {templates_dir}")
    for name in names:
        target = dirs.etc / name.removesuffix(".j2")
        target.write_text(environment.get_template(name).render(context), encoding="utf-8")
    # The AMI secret and SIP passwords are in these files.
    for path in dirs.etc.iterdir():
        path.chmod(0o600)
    return dirs.asterisk_conf
