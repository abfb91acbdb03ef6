"""Email templates rendered with Jinja2 in its sandbox (F-EM-3, F-EM-4).

Admins write the templates, agents and the auto-acknowledgement render them, and the
result goes to customers: so a template may read the variables it is given and nothing
else. `SandboxedEnvironment` refuses attribute access to Python internals (no
`__class__.__mro__` escapes); the variables are plain dicts and strings built here, not
ORM rows, so no template can reach a session or lazy-load a relationship. A variable a
template names but was not given renders empty (a template for cases used on a mail
with no contact still works). The HTML body is autoescaped, the text body and subject
are not (they are not HTML).

Variables: `case` (number, token, subject, status, priority), `contact` (name, company,
email), `agent` (name), `mailbox` (name, address), `message` (subject of the mail being
answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from parley.platform.errors import DomainError

_MAX_OUTPUT = 200_000


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox, saying no out loud: an unsafe attribute fails the render (the
    admin learns the template is wrong) instead of quietly rendering empty."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


# ChainableUndefined: `{{ contact.manager.name }}` with no manager renders empty.
_text = _Sandbox(autoescape=False, keep_trailing_newline=True, undefined=ChainableUndefined)
_html = _Sandbox(autoescape=True, keep_trailing_newline=True, undefined=ChainableUndefined)


class TemplateFailed(DomainError):
    status_code = 422

    def __init__(self, where: str, error: str) -> None:
        super().__init__("template_failed", f"The template's {where} cannot be used: {error}")


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    subject: str
    text: str
    html: str


def check_template(subject: str, body_text: str, body_html: str) -> None:
    """Raise `TemplateFailed` naming the part with a syntax error, if any."""
    for where, source, environment in _parts(subject, body_text, body_html):
        try:
            environment.parse(source)
        except TemplateError as error:
            raise TemplateFailed(where, str(error)) from error


def render_template(
    subject: str, body_text: str, body_html: str, variables: dict[str, Any]
) -> RenderedTemplate:
    """Render the three parts with `variables`; `TemplateFailed` on any error."""
    rendered: list[str] = []
    for where, source, environment in _parts(subject, body_text, body_html):
        try:
            output = environment.from_string(source).render(variables)
        except TemplateError as error:  # includes the sandbox's SecurityError
            raise TemplateFailed(where, str(error)) from error
        if len(output) > _MAX_OUTPUT:
            raise TemplateFailed(where, "the result is too long")
        rendered.append(output)
    subject_out, text_out, html_out = rendered
    return RenderedTemplate(" ".join(subject_out.split()), text_out, html_out)


def template_variables(
    *,
    case_number: int | None,
    case_subject: str = "",
    case_status: str = "",
    case_priority: str = "",
    contact_name: str = "",
    contact_company: str = "",
    contact_email: str = "",
    agent_name: str = "",
    mailbox_name: str = "",
    mailbox_address: str = "",
    message_subject: str = "",
) -> dict[str, Any]:
    """The variables every template is rendered with (see the module docstring)."""
    return {
        "case": {
            "number": case_number,
            "token": f"[#{case_number}]" if case_number is not None else "",
            "subject": case_subject,
            "status": case_status,
            "priority": case_priority,
        },
        "contact": {"name": contact_name, "company": contact_company, "email": contact_email},
        "agent": {"name": agent_name},
        "mailbox": {"name": mailbox_name, "address": mailbox_address},
        "message": {"subject": message_subject},
    }


def _parts(subject: str, body_text: str, body_html: str) -> list[tuple[str, str, _Sandbox]]:
    return [("subject", subject, _text), ("text", body_text, _text), ("HTML", body_html, _html)]
