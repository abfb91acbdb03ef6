"""The one stored form of each way to reach a contact, so an incoming call, mail or chat
finds its contact: phones in E.164, email addresses in lower case, chat visitor ids as
given. Pure functions; a value that cannot be read raises `ValueError` with a message
meant for the person who typed it."""

from __future__ import annotations

from enum import StrEnum

import phonenumbers
from pydantic import EmailStr, TypeAdapter, ValidationError


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    VISITOR = "visitor"  # a chat visitor id


_email = TypeAdapter(EmailStr)


def normalize_phone(raw: str, default_region: str) -> str:
    """`raw` in E.164. A number without +country is read in `default_region` (an ISO
    country code); with no default region it is refused."""
    text = raw.strip()
    if not text.startswith("+") and not default_region:
        raise ValueError(
            f"{raw!r} needs a + and the country code: no default phone region is configured"
        )
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{raw!r} is not a possible phone number (check the digits)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    try:
        address = _email.validate_python(raw.strip())
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from exc
    return address.lower()


def normalize_identity(kind: IdentityKind, raw: str, default_region: str) -> str:
    if kind is IdentityKind.PHONE:
        return normalize_phone(raw, default_region)
    if kind is IdentityKind.EMAIL:
        return normalize_email(raw)
    visitor_id = raw.strip()
    if not visitor_id:
        raise ValueError("a chat visitor id may not be empty")
    return visitor_id
