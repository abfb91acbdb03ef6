"""Confidential data masked out of a stored email, with no I/O (F-EM-4).

An agent masks what they select in a message (a card number the customer wrote, a
password) or every card or account number found. The stored text and HTML are rewritten
with `MASK` in their place, so the original is not kept anywhere Parley reads from:
the same fixed mask whatever was hidden, which does not even tell its length.

Cards are 13 to 19 digits (spaces or dashes between groups allowed) that pass the Luhn
check, so order and phone numbers stay; accounts are IBANs and the 20-digit account
numbers of Russian banks.

In HTML only the text between tags is rewritten (entities read as the characters they
stand for). A selection that still shows up afterwards (it spanned tags, or sits in an
attribute) makes the whole HTML body give way to the masked text: a message loses its
formatting rather than keep what was to be hidden.
"""

from __future__ import annotations

import html as html_module
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from parley.email_channel.sanitize import text_to_html

MASK = "████"
MAX_SELECTION = 1000

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_ACCOUNT = re.compile(r"(?<!\d)\d{20}(?!\d)")
_TAG = re.compile(r"(<[^>]*>)")


class Pattern(StrEnum):
    CARD = "card"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Masked:
    text: str
    html: str
    count: int  # how many places were masked (text and HTML together)


def _passes_luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_text(
    text: str, selections: Sequence[str], patterns: Iterable[Pattern]
) -> tuple[str, int]:
    count = 0
    for selection in selections:
        text, found = _loosely(selection).subn(MASK, text)
        count += found

    def card(match: re.Match[str]) -> str:
        nonlocal count
        digits = re.sub(r"\D", "", match.group(0))
        if not _passes_luhn(digits):
            return match.group(0)
        count += 1
        return MASK

    def plain(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return MASK

    wanted = set(patterns)
    if Pattern.CARD in wanted:
        text = _CARD.sub(card, text)
    if Pattern.ACCOUNT in wanted:
        text = _ACCOUNT.sub(plain, _IBAN.sub(plain, text))
    return text, count


def _mask_html(
    body: str, selections: Sequence[str], patterns: Iterable[Pattern]
) -> tuple[str, int]:
    pieces = _TAG.split(body)
    count = 0
    for index in range(0, len(pieces), 2):  # even pieces are text, odd ones tags
        text = html_module.unescape(pieces[index])
        masked, found = _mask_text(text, selections, patterns)
        if found:
            pieces[index] = html_module.escape(masked, quote=False)
            count += found
    return "".join(pieces), count


def _loosely(selection: str) -> re.Pattern[str]:
    """`selection` found whatever white space separates its words: what an agent
    selects on the page has spaces where the stored text may break lines."""
    return re.compile(r"\s+".join(re.escape(word) for word in selection.split()))


def _still_shows(body: str, selections: Sequence[str]) -> bool:
    readable = html_module.unescape(_TAG.sub(" ", body))
    return any(
        _loosely(selection).search(readable) or _loosely(selection).search(body)
        for selection in selections
    )


def mask_message(
    text: str, html: str, selections: Sequence[str], patterns: Iterable[Pattern]
) -> Masked:
    """`text` and `html` with every selection and every pattern match masked."""
    chosen = [s for s in dict.fromkeys(selections) if s.strip()]
    chosen.sort(key=len, reverse=True)  # a longer selection first: it may hold a shorter
    patterns = tuple(patterns)
    masked_text, count = _mask_text(text, chosen, patterns)
    if not html:
        return Masked(masked_text, "", count)
    masked_html, html_count = _mask_html(html, chosen, patterns)
    if _still_shows(masked_html, chosen):
        return Masked(masked_text, text_to_html(masked_text), max(count, 1))
    return Masked(masked_text, masked_html, count + html_count)
