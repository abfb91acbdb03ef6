"""Voice configuration (F-VO-1, F-VO-9), for admins: the numbers callers dial with the
queue each one's calls wait in (and the IVR menu they hear first), the menus, the
callers Parley hangs up on, and per queue its voice settings (F-VO-1, -5, -6: holding
announcements, recording retention, the pre-recorded messages agents may play).

A dialled number is stored as the trunk sends it: a phone number in E.164 (`+48221234567`)
or an extension (`100`). A blocked caller is an E.164 number or a pattern in which `*`
stands for any digits (`+7495*`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field, model_validator

from parley.platform.admin_api.resources import Access, Filter, Resource, Unique
from parley.platform.admin_api.schemas import Input, Name
from parley.platform.models import BlockedCaller, IvrMenu, Queue, QueueVoiceSettings, VoiceNumber
from parley.platform.web.deps import ADMINS, SUPERVISORS

Dialled = Annotated[
    str,
    Field(pattern=r"^(\+[1-9][0-9]{3,14}|[0-9A-Za-z_-]{1,40})$", examples=["+48221234567", "100"]),
]
CallerPattern = Annotated[
    str, Field(pattern=r"^\+?[0-9*]{1,30}$", examples=["+74951234567", "+7495*"])
]


class VoiceNumberCreate(Input):
    number: Dialled
    name: str = Field("", max_length=100, description="What it is for (an ad, a brand…).")
    queue_id: int = Field(description="The queue its calls wait in.")
    ivr_menu_id: int | None = Field(None, description="The menu callers hear first.")
    is_active: bool = True


class VoiceNumberOut(BaseModel):
    id: int
    number: str
    name: str
    queue_id: int
    ivr_menu_id: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


voice_numbers = Resource(
    model=VoiceNumber,
    path="/api/voice-numbers",
    noun="voice number",
    create=VoiceNumberCreate,
    out=VoiceNumberOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"queue_id": Filter(int), "is_active": Filter(bool)},
    sortable=("number", "name", "created_at"),
    search=("number", "name"),
    unique=(Unique("number"),),
    references={"queue_id": Queue, "ivr_menu_id": IvrMenu},
)


class MenuOptionIn(Input):
    digit: Annotated[str, Field(pattern=r"^[0-9*#]$")]
    label: str = Field("", max_length=60)
    action: Literal["queue", "menu", "hangup"]
    target_id: int | None = Field(None, description="The queue or menu; none for hangup.")

    @model_validator(mode="after")
    def _target_matches_action(self) -> MenuOptionIn:
        if (self.action == "hangup") != (self.target_id is None):
            raise ValueError("A queue or menu option names its target; hangup names none.")
        return self


def _distinct_digits(options: list[MenuOptionIn]) -> list[MenuOptionIn]:
    digits = [option.digit for option in options]
    if len(set(digits)) != len(digits):
        raise ValueError("Each key may lead to one option only.")
    return options


class IvrMenuCreate(Input):
    name: Name
    prompt: str = Field(
        "",
        max_length=500,
        pattern=r"^[A-Za-z0-9/_.-]*$",
        description="The sound file Asterisk plays, without its extension.",
    )
    prompt_text: str = Field("", max_length=2000, description="What the prompt says.")
    timeout_seconds: int = Field(5, ge=1, le=60)
    attempts: int = Field(3, ge=1, le=10)
    options: Annotated[list[MenuOptionIn], AfterValidator(_distinct_digits)] = Field(
        default_factory=list, max_length=12
    )
    is_active: bool = True


class IvrMenuOut(BaseModel):
    id: int
    name: str
    prompt: str
    prompt_text: str
    timeout_seconds: int
    attempts: int
    options: list[dict[str, Any]]
    is_active: bool
    created_at: datetime
    updated_at: datetime


ivr_menus = Resource(
    model=IvrMenu,
    path="/api/ivr-menus",
    noun="ivr menu",
    create=IvrMenuCreate,
    out=IvrMenuOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"is_active": Filter(bool)},
    sortable=("name", "created_at"),
    search=("name", "prompt_text"),
    unique=(Unique("name"),),
)


class BlockedCallerCreate(Input):
    pattern: CallerPattern
    reason: str = Field("", max_length=200)
    is_active: bool = True


class BlockedCallerOut(BaseModel):
    id: int
    pattern: str
    reason: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


blocked_callers = Resource(
    model=BlockedCaller,
    path="/api/blocked-callers",
    noun="blocked caller",
    create=BlockedCallerCreate,
    out=BlockedCallerOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"is_active": Filter(bool)},
    sortable=("pattern", "created_at"),
    search=("pattern", "reason"),
    unique=(Unique("pattern"),),
)


def _no_parent_dirs(sound: str) -> str:
    if ".." in sound:
        raise ValueError("A sound file is named without `..`.")
    return sound


SoundFile = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=r"^[A-Za-z0-9/_.-]+$",
        description="The sound file Asterisk plays, without its extension.",
    ),
    AfterValidator(_no_parent_dirs),
]


class QueueMessageIn(Input):
    name: str = Field(min_length=1, max_length=100, description="What agents see.")
    sound: SoundFile


def _distinct_names(messages: list[QueueMessageIn]) -> list[QueueMessageIn]:
    names = [message.name for message in messages]
    if len(set(names)) != len(names):
        raise ValueError("Each message needs a name of its own.")
    return messages


class QueueVoiceSettingsCreate(Input):
    queue_id: int
    announce_every_seconds: int = Field(
        0, ge=0, le=3600, description="Position and wait announcements while holding; 0: none."
    )
    recording_retention_days: int = Field(
        0, ge=0, le=3650, description="Days call recordings are kept; 0: forever."
    )
    messages: Annotated[list[QueueMessageIn], AfterValidator(_distinct_names)] = Field(
        default_factory=list, max_length=50
    )

    @model_validator(mode="after")
    def _announcements_are_not_too_often(self) -> QueueVoiceSettingsCreate:
        every = self.announce_every_seconds  # None in a PATCH that leaves it
        if every is not None and 0 < every < 10:
            raise ValueError("Announce every 10 seconds or less often (0: never).")
        return self


class QueueVoiceSettingsOut(BaseModel):
    id: int
    queue_id: int
    announce_every_seconds: int
    recording_retention_days: int
    messages: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


queue_voice_settings = Resource(
    model=QueueVoiceSettings,
    path="/api/queue-voice-settings",
    noun="queue voice settings",
    create=QueueVoiceSettingsCreate,
    out=QueueVoiceSettingsOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"queue_id": Filter(int)},
    sortable=("queue_id", "created_at"),
    unique=(Unique("queue_id"),),
    references={"queue_id": Queue},
)


def routers() -> list[APIRouter]:
    return [r.router() for r in (voice_numbers, ivr_menus, blocked_callers, queue_voice_settings)]
