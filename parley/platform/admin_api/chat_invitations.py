"""Proactive invitation scenarios of a chat widget (F-CH-3), configured by admins;
supervisors may read them.

Each condition is optional: a number left null and a list left empty match every
visitor. Of the scenarios that match a visitor, the one with the most conditions set
invites them (`parley.chat_channel.invitations`). "Contains" lists hold texts of which
one must be in the visitor's value, ignoring case; in `url_patterns` `*` stands for any
run of characters. `location_contains` is matched against "City, Country" from the
GeoIP database, so it never matches while none is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field

from parley.platform.admin_api.resources import Access, Context, Filter, Resource
from parley.platform.admin_api.schemas import Input, Name
from parley.platform.models import ChatInvitationScenario, ChatWidget
from parley.platform.web.deps import ADMINS, SUPERVISORS


def _is_plain_text(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("Control characters are not allowed.")
    if not value.strip():
        raise ValueError("The text must not be blank.")
    return value


Seconds = Annotated[int, Field(ge=0, le=86_400, description="Seconds; null: any.")]
Contains = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_is_plain_text)]],
    Field(max_length=50),
]


class ChatInvitationScenarioCreate(Input):
    widget_id: int = Field(description="The widget whose visitors it invites.")
    name: Name
    message: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_is_plain_text)]
    is_active: bool = True
    min_time_on_site_seconds: Seconds | None = None
    min_time_on_page_seconds: Seconds | None = None
    max_invitations_seen: int | None = Field(
        None, ge=0, le=1000, description="Only visitors invited at most this many times."
    )
    min_seconds_since_last_invitation: Seconds | None = None
    requires_agent_online: bool = Field(
        False, description="Only while an agent of the widget's queue is logged in."
    )
    is_new_visitor: bool | None = Field(
        None, description="true: first visits only; false: returning visitors only."
    )
    url_patterns: Contains = Field(default_factory=list, examples=[["/product/*/reviews", "/cart"]])
    referrer_contains: Contains = Field(default_factory=list, examples=[["google."]])
    location_contains: Contains = Field(default_factory=list, examples=[["Poland", "Berlin"]])


class ChatInvitationScenarioOut(BaseModel):
    id: int
    widget_id: int
    name: str
    message: str
    is_active: bool
    min_time_on_site_seconds: int | None
    min_time_on_page_seconds: int | None
    max_invitations_seen: int | None
    min_seconds_since_last_invitation: int | None
    requires_agent_online: bool
    is_new_visitor: bool | None
    url_patterns: list[str]
    referrer_contains: list[str]
    location_contains: list[str]
    created_at: datetime
    updated_at: datetime


class ChatInvitationScenarioResource(Resource[ChatInvitationScenario]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: ChatInvitationScenario | None
    ) -> dict[str, Any]:
        for texts in ("url_patterns", "referrer_contains", "location_contains"):
            if texts in values:
                values[texts] = list(dict.fromkeys(text.strip() for text in values[texts]))
        return values


chat_invitation_scenarios = ChatInvitationScenarioResource(
    model=ChatInvitationScenario,
    path="/api/chat-invitation-scenarios",
    noun="chat invitation scenario",
    create=ChatInvitationScenarioCreate,
    out=ChatInvitationScenarioOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"widget_id": Filter(int), "is_active": Filter(bool)},
    sortable=("name", "created_at"),
    search=("name", "message"),
    references={"widget_id": ChatWidget},
)


def routers() -> list[APIRouter]:
    return [chat_invitation_scenarios.router()]
