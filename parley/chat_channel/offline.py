"""What the widget's forms do (F-CH-2), orchestrated: the visitor's details reach their
contact, and a message left while no agent could answer becomes a case.

`save_details` keeps the pre-chat (or "leave your contacts") answers on the visitor and
makes the visitor a contact the way the email channel does: an email address or phone
number already known finds its contact, otherwise a new contact gets them as its
identities (an identity that belongs to another contact is not moved). A chat already
waiting shows the answers to the agents (its attributes).

`leave_message` makes the case: in the widget's queue, for that contact, with the
message as its first message, and mails the widget's notification address through the
email channel (`Runtime.mailer`) when the queue has a mailbox that sends (else it logs that nobody
was mailed: the case is there either way). A resend of the same `client_msg_id` finds
the case made the first time.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat_channel import forms, protocol
from parley.chat_channel.service import VISITOR_IDENTITY, ChatService, WidgetView
from parley.platform.admin_api.identities import IdentityKind, normalize_phone
from parley.platform.cases.service import CaseContext, create_case
from parley.platform.i18n import translations
from parley.platform.models import (
    Channel,
    ChatVisitor,
    ChatWidget,
    Contact,
    ContactIdentity,
    Direction,
    Interaction,
    Message,
    MessageKind,
)
from parley.platform.runtime import Runtime

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Left:
    """A message left: its case, and the notification mail to send (None: none)."""

    case_id: int
    mail_id: int | None


def _rejected(field: str, message: str, frame: str = "details") -> protocol.FrameRejected:
    return protocol.FrameRejected(
        protocol.ErrorCode.BAD_FRAME,
        "The frame is not valid.",
        [protocol.FieldError(field=f"{frame}.{field}", message=message)],
    )


class ChatForms:
    """One per process beside the `ChatService`, whose per-visitor lock it shares (a
    visitor's first message and their details both may make them a contact)."""

    def __init__(self, runtime: Runtime, chats: ChatService) -> None:
        self._runtime = runtime
        self._chats = chats

    # --- details ---------------------------------------------------------------------

    async def save_details(
        self, widget: WidgetView, visitor_id: int, frame: protocol.Details
    ) -> None:
        """Keep the answers; `FrameRejected` naming the field for a required one left
        out or a phone number that cannot be read."""
        given = frame.model_dump(exclude={"type"}, exclude_none=True)
        missing = forms.missing_required(widget.prechat_required, given)
        if missing:
            raise protocol.FrameRejected(
                protocol.ErrorCode.BAD_FRAME,
                "The form is not complete.",
                [
                    protocol.FieldError(field=f"details.{field}", message="Field required")
                    for field in missing
                ],
            )
        if not given:
            raise _rejected("name", "Fill in at least one field")
        if "phone" in given:
            try:
                given["phone"] = normalize_phone(
                    given["phone"], self._runtime.settings.default_phone_region
                )
            except ValueError:
                raise _rejected(
                    "phone", "Not a phone number (add + and the country code)"
                ) from None
        async with (
            self._chats.visitor_lock(visitor_id),
            self._runtime.database.transaction() as db,
        ):
            visitor = await db.get_one(ChatVisitor, visitor_id)
            visitor.details = {**visitor.details, **given}
            contact_id = await self._link_contact(db, visitor, given)
            await self._show_on_waiting_chat(db, contact_id, visitor)
        log.info("chat.details_saved", chat_visitor_id=visitor_id, fields=sorted(given))

    async def _link_contact(
        self, db: AsyncSession, visitor: ChatVisitor, given: dict[str, str]
    ) -> int:
        """The visitor's contact, found by an identity given or made, with the given
        identities it can take and its name if it had none."""
        wanted = [
            (kind.value, given[kind.value])
            for kind in (IdentityKind.EMAIL, IdentityKind.PHONE)
            if kind.value in given
        ]
        owners: dict[tuple[str, str], int] = {}
        for kind, value in wanted:
            owner = await db.scalar(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.kind == kind, ContactIdentity.value == value
                )
            )
            if owner is not None:
                owners[(kind, value)] = int(owner)
        contact_id = visitor.contact_id
        if contact_id is None:
            contact_id = next(iter(owners.values()), None)
            if contact_id is None:
                contact = Contact(name=given.get("name", "")[:200])
                db.add(contact)
                await db.flush()
                contact_id = contact.id
            db.add(
                ContactIdentity(
                    contact_id=contact_id,
                    kind=VISITOR_IDENTITY,
                    value=f"{visitor.widget_id}:{visitor.visitor_key}",
                )
            )
            visitor.contact_id = contact_id
        for kind, value in wanted:
            if (kind, value) not in owners:
                db.add(ContactIdentity(contact_id=contact_id, kind=kind, value=value))
        contact_row = await db.get_one(Contact, contact_id)
        if not contact_row.name and given.get("name"):
            contact_row.name = given["name"][:200]
        await db.flush()
        return contact_id

    async def _show_on_waiting_chat(
        self, db: AsyncSession, contact_id: int, visitor: ChatVisitor
    ) -> None:
        interaction = await db.scalar(
            select(Interaction)
            .where(
                Interaction.contact_id == contact_id,
                Interaction.channel == Channel.CHAT,
                Interaction.ended_at.is_(None),
            )
            .order_by(Interaction.id.desc())
            .limit(1)
        )
        if interaction is None:
            return
        attributes = {**interaction.attributes, **forms.screen_pop(visitor.details)}
        if visitor.details.get("name"):
            attributes["name"] = visitor.details["name"]
        interaction.attributes = attributes

    # --- leaving a message -----------------------------------------------------------

    async def leave_message(
        self, widget: WidgetView, visitor_id: int, frame: protocol.OfflineMessage
    ) -> Left:
        """Make the case for the message (once per `client_msg_id`) and store its
        notification mail; the caller answers the visitor, then `deliver`s the mail."""
        if not widget.offline_form_enabled:
            raise _rejected("type", "This chat takes no offline messages", "offline_message")
        external_id = f"chat-offline:{visitor_id}:{frame.client_msg_id}"
        now = self._runtime.clock.now()
        mail_id: int | None = None
        async with (
            self._chats.visitor_lock(visitor_id),
            self._runtime.database.transaction() as db,
        ):
            known = await db.scalar(select(Message).where(Message.external_id == external_id))
            if known is not None and known.case_id is not None:
                return Left(known.case_id, None)
            visitor = await db.get_one(ChatVisitor, visitor_id)
            row = await db.get_one(ChatWidget, widget.id)
            given = {"name": frame.name, "email": frame.email}
            visitor.details = {**visitor.details, **given}
            contact_id = await self._link_contact(db, visitor, given)
            ctx = CaseContext(db=db, actor=None, bus=self._runtime.bus, now=now)
            case = await create_case(
                ctx,
                {
                    "subject": forms.case_subject(frame.text),
                    "queue_id": row.queue_id,
                    "contact_id": contact_id,
                    "custom_fields": {"chat_widget_id": row.id, "page_url": visitor.page_url},
                },
            )
            db.add(
                Message(
                    kind=MessageKind.CHAT,
                    direction=Direction.INBOUND,
                    case_id=case.id,
                    author_contact_id=contact_id,
                    external_id=external_id,
                    body_text=frame.text,
                    headers={
                        "author": {"kind": "visitor", "name": frame.name},
                        "offline": True,
                        "chat_widget_id": row.id,
                        "chat_visitor_id": visitor.id,
                    },
                    created_at=now,
                )
            )
            mail_id = await self._notify(db, row, case.id, frame, visitor.page_url)
            case_id = case.id
        log.info("chat.offline_message", case_id=case_id, chat_widget_id=widget.id)
        return Left(case_id, mail_id)

    async def deliver(self, left: Left) -> None:
        """Send the notification mail stored with the case, if any. A failure is recorded
        on the mail (which can be retried like any other); the case stays either way."""
        if left.mail_id is not None:
            mailer = self._runtime.mailer
            if mailer is not None:
                await mailer.deliver(left.mail_id)

    async def _notify(
        self,
        db: AsyncSession,
        widget: ChatWidget,
        case_id: int,
        frame: protocol.OfflineMessage,
        page_url: str,
    ) -> int | None:
        """Store the notification mail (sent after the commit); None when nobody is to be
        or can be mailed."""
        if not widget.offline_notify_email:
            return None
        mail = forms.notification(
            translations(self._runtime.settings.default_language),
            widget_name=widget.name,
            case_id=case_id,
            name=frame.name,
            email=frame.email,
            text=frame.text,
            page_url=page_url,
        )
        mailer = self._runtime.mailer
        mail_id = None
        if mailer is not None:
            mail_id = await mailer.add_notification(
                db, widget.queue_id, widget.offline_notify_email, mail.subject, mail.text
            )
        if mail_id is None:
            log.info(
                "chat.offline_not_mailed",
                reason="the queue has no mailbox that sends",
                case_id=case_id,
                queue_id=widget.queue_id,
            )
        return mail_id
