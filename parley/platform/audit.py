"""The audit log of admin changes: who changed what, when, from where, and how."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.auth.principal import Principal
from parley.platform.models import AuditLog

_HIDDEN_FIELDS = frozenset({"password", "password_hash", "token", "token_hash", "secret"})


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    return {key: ("***" if key in _HIDDEN_FIELDS else value) for key, value in changes.items()}


async def record(
    db: AsyncSession,
    actor: Principal | None,
    action: str,
    entity_type: str,
    entity_id: object,
    changes: dict[str, Any] | None = None,
    *,
    ip: str = "",
) -> None:
    db.add(
        AuditLog(
            actor_user_id=actor.user_id if actor else None,
            actor_label=actor.username if actor else "system",
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            changes=redact(changes or {}),
            ip=ip,
        )
    )
