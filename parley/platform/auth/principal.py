"""Who is calling: a user with a role, reached through a browser session or an API token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parley.platform.models import Role

Via = Literal["session", "token"]


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    language: str
    via: Via
    session_id: str | None = None
    csrf_token: str | None = None

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles
