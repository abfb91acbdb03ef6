"""The one event envelope every bus carries (ARCHITECTURE.md §6).

An `Event` is what a service publishes after it has done something: `agent.state_changed`,
`offer.created`, `chat.message`. Packages describe their payloads with pydantic models in
their own `events.py` and hand them to `Event.create`; the envelope stores the payload as
plain JSON data so the in-memory bus and the Redis bus deliver exactly the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
"""Dotted lowercase names with at least two parts: `case.updated`, `agent.state_changed`."""


class Event(BaseModel):
    """Something that happened, with when and the data subscribers need to react to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="uuid4 as 32 hex digits.")
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    occurred_at: AwareDatetime
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("payload")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A JSON round trip both proves the payload can cross Redis and makes it the very
        # value a Redis subscriber would decode (tuples become lists, the caller's dict is
        # copied), so embedded and scaled deployments behave alike.
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload must be JSON-serializable: {exc}") from exc
        decoded: dict[str, Any] = json.loads(encoded)
        return decoded

    @classmethod
    def create(
        cls,
        type: str,
        payload: Mapping[str, Any] | BaseModel,
        now: datetime | None = None,
    ) -> Event:
        """A new event with a fresh id; `now` comes from the caller's clock when it has one."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        return cls(
            id=uuid4().hex,
            type=type,
            occurred_at=now if now is not None else datetime.now(UTC),
            payload=dict(data),
        )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Event:
        return cls.model_validate_json(data)
