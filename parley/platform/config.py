"""Settings: one object read from `PARLEY_*` environment variables and an optional `.env`.

The defaults are the embedded mode of ARCHITECTURE.md §2: a SQLite file in the data
directory, the in-memory bus and the in-process job runner, so `parley serve` works on a
fresh machine with no other server. Pointing `database_url`, `bus_url` and `jobs_url` at
PostgreSQL and Redis gives the scaled stack.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Role = Literal["web", "engine", "media"]
ALL_ROLES: tuple[Role, ...] = ("web", "engine", "media")
_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class IceServer(BaseModel):
    """A STUN or TURN server for the browser lines (the gateway's and the browser's
    RTCPeerConnection): `{"urls": ["turn:turn.example.com:3478"], "username": "…",
    "credential": "…"}`; TURN needs the username and credential, STUN none."""

    urls: list[str] = Field(min_length=1)
    username: str = ""
    credential: str = ""

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _ice_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(_ICE_SCHEMES):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return urls


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLEY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("data"), description="Where SQLite, uploads and keys live.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file in data_dir.",
    )
    bus_url: str = Field(default="memory://", description="memory:// or redis://host:port/db")
    jobs_url: str = Field(default="inprocess://", description="inprocess:// or redis://… (Celery)")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # NoDecode: read "web,engine" as text (split below), not as JSON.
    roles: Annotated[list[Role], NoDecode] = Field(default_factory=lambda: list(ALL_ROLES))
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs and encrypts; empty means a random key kept in data_dir.",
    )
    log_level: str = "INFO"
    log_json: bool = True
    default_language: Literal["en", "ru", "pl"] = "en"
    default_phone_region: str = Field(
        default="",
        description="ISO country for numbers written without +country code; empty: + required.",
    )
    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    cookie_secure: bool = False
    presence_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A desktop silent this long is logged out (F-AG-3)."
    )
    engine_ticks: bool = Field(
        default=True, description="Run the engine's timer loop (tests drive it by hand)."
    )
    ami_url: SecretStr = Field(
        default=SecretStr(""),
        description="ami://user:secret@host:port of Asterisk's manager; empty: no voice.",
    )
    fastagi_host: str = Field(default="127.0.0.1", description="Where Asterisk reaches FastAGI.")
    fastagi_port: int = Field(default=4573, ge=1, le=65535)
    voice_ring_seconds: int = Field(
        default=20, ge=5, le=120, description="How long an agent's phone rings per attempt."
    )
    media_host: str = Field(
        default="127.0.0.1",
        description="Where Asterisk reaches the media gateway's AudioSocket server.",
    )
    media_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="The AudioSocket server's port; 0: any free one (the engine learns it).",
    )
    media_bind: str = Field(
        default="", description="Address the media role listens on; empty: media_host."
    )
    media_ice_servers: list[IceServer] = Field(
        default_factory=list,
        description='STUN/TURN servers of the browser lines, as JSON: [{"urls": '
        '["turn:host:3478"], "username": "…", "credential": "…"}]; empty: none (a LAN).',
    )
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    geoip_database_path: Path | None = Field(
        default=None,
        description="A MaxMind City database (.mmdb) for visitors' city and country; "
        "unset: left blank.",
    )

    @field_validator("roles", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'parley.sqlite3').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data directory."""
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        import secrets

        path = self.ensure_data_dir() / "secret.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
