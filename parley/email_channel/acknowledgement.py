"""The automatic "we got your message" reply, written when ingestion opens a case (F-EM-3).

autoreply.py decides whether to answer; this module writes the answer: from the
mailbox's template when it has one, else from the built-in text below (translated into
the installation's default language), rendered in the template sandbox with the case's
variables. The acknowledgement is an outgoing email like any other (outbound.py): stored
in the same transaction as the message it answers, sent after the commit, marked
`Auto-Submitted: auto-replied` so that no well-behaved responder — another Parley
included — answers it back. It answers with In-Reply-To and References of the customer's
message and carries the case token, so whatever the customer writes next joins the case.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel.outbound import Draft, Outbox, SendMode
from parley.email_channel.parsing import ParsedMessage
from parley.email_channel.templates import render_template, template_variables
from parley.email_channel.threads import reply_headers, reply_subject
from parley.platform.i18n import translations
from parley.platform.models import Case, EmailAccount, EmailTemplate, Message


def _(message: str) -> str:
    """Marks a string for the catalogs (pybabel extracts `_`); translated when used."""
    return message


DEFAULT_ACK_TEXT = _(
    "Hello {{ contact.name }},\n"
    "\n"
    "Thank you for your message. We have registered your request as case "
    "{{ case.token }} and will answer as soon as we can.\n"
    "Please keep {{ case.token }} in the subject when you write to us about it.\n"
    "\n"
    "{{ mailbox.name }}\n"
)


async def add_acknowledgement(
    db: AsyncSession,
    outbox: Outbox,
    *,
    account: EmailAccount,
    case: Case,
    parsed: ParsedMessage,
    message_id: str,
    recipient: str,
    contact_name: str,
    language: str,
) -> Message:
    """Add the acknowledgement of `parsed` (stored as `message_id`) to `db`, pending."""
    template = (
        await db.get(EmailTemplate, account.auto_ack_template_id)
        if account.auto_ack_template_id is not None
        else None
    )
    if template is not None and template.is_active:
        subject_source, text_source, html_source = (
            template.subject,
            template.body_text,
            template.body_html,
        )
    else:
        subject_source = ""
        text_source = translations(language).gettext(DEFAULT_ACK_TEXT)
        html_source = ""
    variables = template_variables(
        case_number=case.id,
        case_subject=case.subject,
        case_status=case.status.value,
        case_priority=case.priority.value,
        contact_name=contact_name,
        contact_email=recipient,
        mailbox_name=account.name,
        mailbox_address=account.from_address,
        message_subject=parsed.subject,
    )
    rendered = render_template(subject_source, text_source, html_source, variables)
    threading = reply_headers(_Answered(parsed, message_id))
    return await outbox.add(
        db,
        Draft(
            account_id=account.id,
            case_id=case.id,
            interaction_id=None,
            author_user_id=None,
            mode=SendMode.ACKNOWLEDGEMENT,
            to=(recipient,),
            subject=reply_subject(rendered.subject or parsed.subject or case.subject, case.id),
            text=rendered.text,
            html=rendered.html,
            in_reply_to=threading.in_reply_to,
            references=threading.references,
        ),
        automatic=True,
    )


class _Answered:
    """The customer's message as threads.reply_headers reads it, under its stored id."""

    def __init__(self, parsed: ParsedMessage, message_id: str) -> None:
        self._parsed = parsed
        self.message_id = message_id

    @property
    def message_id_is_generated(self) -> bool:
        return self._parsed.message_id_is_generated

    @property
    def in_reply_to(self) -> str | None:
        return self._parsed.in_reply_to

    @property
    def references(self) -> tuple[str, ...]:
        return self._parsed.references

    @property
    def subject(self) -> str:
        return self._parsed.subject
