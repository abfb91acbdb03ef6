"""Payloads of the events cases publish (after commit) on the bus."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CaseChanged(BaseModel):
    """`case.created` and `case.updated`."""

    case_id: int
    changes: dict[str, Any] = Field(description="Field -> {old, new}.")


class CaseNoteAdded(BaseModel):
    """`case.note_added`."""

    case_id: int
    message_id: int
    interaction_id: int | None
    author_user_id: int | None


class CaseMergedEvent(BaseModel):
    """`case.merged`: `case_id` went into `merged_into_id` with its interactions and
    messages."""

    case_id: int
    merged_into_id: int
    interactions_moved: int
    messages_moved: int
