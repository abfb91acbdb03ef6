"""Frames of the visitor websocket, validated at the edge (see PROTOCOL.md beside this file).

The widget on a customer's site keeps one websocket per page to Parley. Every frame is a
JSON object with a `type`; `message`, `typing` and `read` exist in both directions with
different fields. Visitor frames come from anyone on the internet, so `read_frame`
checks them strictly: unknown fields are refused, strings and numbers are bounded, and
nothing is coerced (`"5"` is not `5`, `1` is not `true`). What it returns can be trusted
past the edge. Server frames are models too, so the server cannot send what the widget
does not understand, and PROTOCOL.md's examples are checked against both.

The rules behind the fields (seq numbering, dedupe by `client_msg_id`, resume, read
marks, typing expiry, rate limits) are in domain.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from parley.chat_channel import domain
from parley.platform.admin_api.identities import normalize_email
from parley.platform.errors import DomainError

MAX_FRAME_BYTES = 64 * 1024  # room for every valid frame, even fully \u-escaped
MAX_TEXT_CHARS = 4000
MAX_COMMENT_CHARS = 1000
MAX_ID_CHARS = 64
MAX_SEQ = 2**53 - 1  # the largest integer JavaScript holds exactly
CLOSE_RATE_LIMITED = 4429  # websocket close code after a `rate_limited` error

_Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[A-Za-z0-9_-]+$")]
_Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
_PositiveSeq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
_Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
_Name = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- from the visitor --------------------------------------------------------------------


class Page(_Model):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    title: Annotated[str, Field(max_length=300)] = ""


class Screen(_Model):
    width: Annotated[int, Field(ge=1, le=100_000)]
    height: Annotated[int, Field(ge=1, le=100_000)]


class Hello(_Model):
    """The first frame on every connection: who the visitor is, what they already have,
    and where they are (for the agents' visitor list, F-CH-5)."""

    type: Literal["hello"]
    visitor_id: _Id | None = None  # None on a first visit: `welcome` brings one
    resume: _Seq = 0  # the last server seq the widget has; 0 for none
    page: Page
    referrer: Annotated[str, Field(max_length=2048)] = ""
    screen: Screen | None = None
    language: (
        Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")] | None
    ) = None


class SendMessage(_Model):
    type: Literal["message"]
    client_msg_id: _Id  # chosen by the widget; a resend carries the same one
    text: _Text

    @field_validator("text")
    @classmethod
    def _is_not_blank(cls, text: str) -> str:
        if not text.strip():
            raise PydanticCustomError("blank", "Text must not be blank")
        return text


class SetTyping(_Model):
    type: Literal["typing"]
    is_typing: bool


class MarkRead(_Model):
    type: Literal["read"]
    up_to: _PositiveSeq


class Heartbeat(_Model):
    type: Literal["heartbeat"]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "Text must not be blank")
    return text


_PersonName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_not_blank)]


def _is_email(text: str) -> str:
    try:
        return normalize_email(text)
    except ValueError:
        raise PydanticCustomError("email", "Not an email address") from None


def _is_phone_like(text: str) -> str:
    # Only its shape here: the service reads it in the configured region (E.164).
    if not _PHONE_SHAPE.fullmatch(text):
        raise PydanticCustomError("phone", "Not a phone number")
    return text


_PHONE_SHAPE = re.compile(r"\+?[0-9][0-9 ().-]{2,38}")
_Email = Annotated[str, Field(max_length=320), AfterValidator(_is_email)]
_Phone = Annotated[str, Field(max_length=40), AfterValidator(_is_phone_like)]


class Details(_Model):
    """What the visitor tells about themselves: the pre-chat form (before the first
    message) or the "leave your contacts" prompt. The widget's required fields must be
    there; absent fields leave what the server knows as it is."""

    type: Literal["details"]
    name: _PersonName | None = None
    email: _Email | None = None
    phone: _Phone | None = None
    question: Annotated[_Text, AfterValidator(_not_blank)] | None = None


class OfflineMessage(_Model):
    """A message left ("leave us a message") while no agent can answer: it becomes a case."""

    type: Literal["offline_message"]
    client_msg_id: _Id  # a resend carries the same one and makes no second case
    name: _PersonName
    email: _Email
    text: Annotated[_Text, AfterValidator(_not_blank)]


class Rate(_Model):
    """The visitor's CSAT answer after `closed` (F-CH-8), for the chat that just ended;
    a second answer for the same chat replaces the first."""

    type: Literal["rating"]
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS)] = ""


class PageView(_Model):
    """The visitor moved to another page without a reload (a single-page site), or the
    page's title changed: the visitor list follows (F-CH-5). Limited to a few a second
    (see "Errors and limits")."""

    type: Literal["page_view"]
    page: Page
    referrer: Annotated[str, Field(max_length=2048)] | None = None


class DeclineInvitation(_Model):
    """The visitor closed an invitation with "No, thanks" (F-CH-3): no chat starts."""

    type: Literal["decline_invitation"]


ClientFrame = Annotated[
    Hello
    | SendMessage
    | SetTyping
    | MarkRead
    | Heartbeat
    | Details
    | OfflineMessage
    | Rate
    | PageView
    | DeclineInvitation,
    Field(discriminator="type"),
]

client_frame: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


# --- from the server ---------------------------------------------------------------------


class ConversationState(_Model):
    id: _Id
    status: domain.ConversationStatus
    last_seq: _Seq
    visitor_read_up_to: _Seq
    agent_read_up_to: _Seq
    is_agent_typing: bool

    @classmethod
    def of(cls, conversation: domain.Conversation, now: datetime) -> ConversationState:
        return cls(
            id=conversation.conversation_id,
            status=conversation.status,
            last_seq=conversation.last_seq,
            visitor_read_up_to=conversation.read_up_to(domain.Side.VISITOR),
            agent_read_up_to=conversation.read_up_to(domain.Side.AGENT),
            is_agent_typing=conversation.is_typing(domain.Side.AGENT, now),
        )


class Welcome(_Model):
    """The answer to `hello`; the missed messages follow it as `message` frames."""

    type: Literal["welcome"] = "welcome"
    visitor_id: _Id
    conversation: ConversationState | None = None  # None while the visitor only browses
    # False while the widget's queue is closed or has no agent logged in: the widget
    # offers its offline form instead of a chat.
    agents_available: bool = True


class Author(_Model):
    kind: domain.AuthorKind
    name: _Name | None = None


class File(_Model):
    """The file a message carries (its `text` is the file's name); the widget downloads
    it from `/chat/widgets/{key}/files/{id}` (PROTOCOL.md, Files)."""

    id: _Id
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=0)]
    content_type: Annotated[str, Field(min_length=1, max_length=100)]
    is_image: bool

    @classmethod
    def of(cls, file: domain.FileRef) -> File:
        return cls(
            id=file.file_id,
            name=file.name,
            size=file.size,
            content_type=file.content_type,
            is_image=file.is_image,
        )


class ChatMessage(_Model):
    type: Literal["message"] = "message"
    seq: _PositiveSeq
    id: _Id
    author: Author
    text: _Text
    sent_at: AwareDatetime
    client_msg_id: _Id | None = None  # set when it echoes the visitor's own message
    file: File | None = None  # set on a message that sends a file

    @classmethod
    def of(cls, message: domain.Message) -> ChatMessage:
        return cls(
            seq=message.seq,
            id=message.message_id,
            author=Author(kind=message.author.kind, name=message.author.name),
            text=message.text,
            sent_at=message.sent_at,
            client_msg_id=message.client_msg_id,
            file=File.of(message.file) if message.file is not None else None,
        )


class Ack(_Model):
    type: Literal["ack"] = "ack"
    client_msg_id: _Id
    seq: _PositiveSeq

    @classmethod
    def of(cls, receipt: domain.Receipt) -> Ack:
        return cls(client_msg_id=receipt.client_msg_id, seq=receipt.seq)


class AgentTyping(_Model):
    type: Literal["typing"] = "typing"
    is_typing: bool


class AgentRead(_Model):
    type: Literal["read"] = "read"
    up_to: _PositiveSeq


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    BANNED = "banned"


class FieldError(_Model):
    field: Annotated[str, Field(max_length=200)]
    message: Annotated[str, Field(max_length=500)]


class ErrorFrame(_Model):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: Annotated[str, Field(max_length=500)]
    fields: tuple[FieldError, ...] = ()
    # The refused `message` frame's id, so the widget stops resending a message that can
    # never pass (too long, blank) and shows it as not sent.
    client_msg_id: _Id | None = None

    @classmethod
    def of(cls, error: DomainError, client_msg_id: str | None = None) -> ErrorFrame:
        """The wire form of an error; the visitor protocol knows the codes of ErrorCode
        only, so another domain error reaching here is a bug (ValueError)."""
        if isinstance(error, FrameRejected):
            return cls(
                code=error.error_code,
                message=error.message[:500],
                fields=error.fields,
                client_msg_id=error.client_msg_id,
            )
        return cls(
            code=ErrorCode(error.code), message=error.message[:500], client_msg_id=client_msg_id
        )


class Closed(_Model):
    type: Literal["closed"] = "closed"
    reason: domain.CloseReason


class DetailsSaved(_Model):
    """The answer to `details`: the server has them (the widget may go on)."""

    type: Literal["details_saved"] = "details_saved"


class OfflineReceived(_Model):
    """The answer to `offline_message` (new or resent): the message is kept."""

    type: Literal["offline_received"] = "offline_received"
    client_msg_id: _Id


class RatingSaved(_Model):
    """The answer to `rating`: the server has it."""

    type: Literal["rating_saved"] = "rating_saved"


class Invitation(_Model):
    """An invitation to chat (F-CH-3), from a scenario or an agent: the widget shows
    `text` with "Chat" and "No, thanks" buttons while the visitor has no chat."""

    type: Literal["invitation"] = "invitation"
    text: Annotated[str, Field(min_length=1, max_length=500)]
    agent_name: _Name | None = None  # who invites, for a manual invitation


ServerFrame = Annotated[
    Welcome
    | ChatMessage
    | Ack
    | AgentTyping
    | AgentRead
    | ErrorFrame
    | Closed
    | DetailsSaved
    | OfflineReceived
    | RatingSaved
    | Invitation,
    Field(discriminator="type"),
]

server_frame: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def encode(frame: ServerFrame) -> str:
    """The text to send for a server frame."""
    return frame.model_dump_json()


# --- reading a visitor frame ------------------------------------------------------------


class FrameRejected(DomainError):
    """A visitor frame that did not pass `read_frame`; `ErrorFrame.of` is its answer."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        fields: Sequence[FieldError] = (),
        client_msg_id: str | None = None,
    ) -> None:
        super().__init__(code.value, message)
        self.error_code = code
        self.fields = tuple(fields)
        self.client_msg_id = client_msg_id


_TAG_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})
_FRAME_TYPES = tuple(
    get_args(frame.model_fields["type"].annotation)[0]
    for frame in get_args(get_args(ClientFrame)[0])
)
_MAX_FIELD_ERRORS = 20


def read_frame(text: str) -> ClientFrame:
    """Parse and validate one text frame from the widget, or raise `FrameRejected`.

    The size is checked before anything is parsed. JSON is parsed by pydantic's parser,
    which also refuses deep nesting and unpaired surrogates (`"\\ud800"`, which no
    database would store).
    """
    try:
        size = MAX_FRAME_BYTES + 1 if len(text) > MAX_FRAME_BYTES else len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate: not text a websocket could carry
        raise FrameRejected(ErrorCode.BAD_FRAME, "The frame is not UTF-8 text.") from None
    if size > MAX_FRAME_BYTES:
        raise FrameRejected(
            ErrorCode.FRAME_TOO_LARGE, f"A frame may have {MAX_FRAME_BYTES} bytes at most."
        )
    try:
        return client_frame.validate_json(text)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors[0]["type"] == "json_invalid":
            detail = errors[0].get("ctx", {}).get("error", "")
            raise FrameRejected(ErrorCode.BAD_FRAME, f"The frame is not JSON ({detail}).") from None
        if any(not error["loc"] and error["type"] not in _TAG_ERRORS for error in errors):
            raise FrameRejected(ErrorCode.BAD_FRAME, "A frame must be a JSON object.") from None
        raise FrameRejected(
            ErrorCode.BAD_FRAME,
            "The frame is not valid.",
            [
                _field_error(error["type"], error["loc"], error["msg"])
                for error in errors[:_MAX_FIELD_ERRORS]
            ],
            _refused_client_msg_id(text),
        ) from None


def _field_error(kind: str, loc: tuple[int | str, ...], message: str) -> FieldError:
    if kind == "union_tag_not_found":
        return FieldError(field="type", message="Field required")
    if kind == "union_tag_invalid":
        return FieldError(
            field="type", message=f"Unknown frame type; expected one of {', '.join(_FRAME_TYPES)}"
        )
    # An unknown field's name is the sender's text: bound what is echoed back.
    return FieldError(field=".".join(str(part) for part in loc)[:200], message=message[:500])


def _refused_client_msg_id(text: str) -> str | None:
    """The `client_msg_id` of a refused `message` frame, when it is itself valid."""
    try:
        raw = json.loads(text)  # pydantic's parser took it, so this one will too...
    except (ValueError, RecursionError):  # ...unless an integer is too long for Python
        return None
    if not isinstance(raw, dict) or raw.get("type") != "message":
        return None
    try:
        return _client_msg_id.validate_python(raw.get("client_msg_id"))
    except ValidationError:
        return None


_client_msg_id: TypeAdapter[str] = TypeAdapter(_Id, config=ConfigDict(strict=True))
