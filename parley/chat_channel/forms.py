"""The widget's forms (F-CH-2), with no I/O: what the pre-chat form and the "leave your
contacts" prompt must carry, what of it the agent's offer shows, and what a message left
while no agent could answer becomes (its case's subject, the notification mail).

The pre-chat form asks some of `FIELDS` before the first message, some of them required
(configured per widget). The same `details` frame carries the contacts a visitor leaves
when nobody has answered for a while. Without an agent to answer (the queue closed or
nobody logged in for it), the widget offers "leave us a message" instead: name, email
and the message, which becomes a case.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FIELDS = ("name", "email", "phone", "question")
# What the agent's offer and screen pop show of the visitor's answers (F-CH-2).
_SCREEN_POP = {"email": "email", "phone": "phone", "question": "question"}
MAX_SUBJECT_CHARS = 200


def missing_required(required: Iterable[str], given: Mapping[str, Any]) -> tuple[str, ...]:
    """The required fields not given (absent or None), in form order."""
    wanted = set(required)
    return tuple(field for field in FIELDS if field in wanted and given.get(field) is None)


def screen_pop(details: Mapping[str, Any]) -> dict[str, str]:
    """The interaction attributes the visitor's answers become; `name` is the
    interaction's own attribute (the service sets it)."""
    return {
        attribute: str(details[field])
        for field, attribute in _SCREEN_POP.items()
        if isinstance(details.get(field), str) and details[field]
    }


def case_subject(text: str) -> str:
    """A left message's first line that says something, cut to fit a subject."""
    for line in text.splitlines():
        if line.strip():
            subject = " ".join(line.split())
            if len(subject) > MAX_SUBJECT_CHARS:
                subject = subject[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
            return subject
    return ""


@dataclass(frozen=True, slots=True)
class Notification:
    subject: str
    text: str


def notification(
    translations: gettext.NullTranslations,
    *,
    widget_name: str,
    case_id: int,
    name: str,
    email: str,
    text: str,
    page_url: str,
) -> Notification:
    """The mail telling the agents a visitor left a message (in the server's language)."""
    _ = translations.gettext
    lines = [
        _("A visitor left a message on the chat widget {widget}.").format(widget=widget_name),
        "",
        _("Case: #{case_id}").format(case_id=case_id),
        _("Name: {name}").format(name=name),
        _("Email: {email}").format(email=email),
    ]
    if page_url:
        lines.append(_("Page: {url}").format(url=page_url))
    lines += ["", text]
    subject = _("Chat message from {name}: {subject}").format(name=name, subject=case_subject(text))
    return Notification(subject=subject[:998], text="\n".join(lines))
