"""The site widget as a customer's page sees it (F-CH-1): the script tag that embeds it,
where it shows (page URL rules), and the configuration `static/widget.js` reads at
start: the look and every text, in the visitor's language, and its forms (F-CH-2: the
pre-chat form, the offline form, when the holding text and the contacts prompt appear).

Pure: no I/O. `widget_api.py` serves the script and the configuration; admins set the
look through the admin API (`parley.platform.admin_api.chat_widgets`).

A URL rule is a pattern where `*` stands for any run of characters and everything else
is literal, matched against the whole page URL (`https://shop.example/help/*`,
`*/checkout*`). A widget shows on a page matching one of its `show_on` rules (on every
page when there are none), unless one of its `hide_on` rules matches too.
"""

from __future__ import annotations

import gettext
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel

SCRIPT_PATH = "/chat/widget.js"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def matches(pattern: str, url: str) -> bool:
    """Whether `url` matches the rule `pattern` as a whole (`*` is any run of text)."""
    return _compiled(pattern).fullmatch(url) is not None


def is_shown_on(url: str, show_on: Sequence[str], hide_on: Sequence[str]) -> bool:
    """Whether the widget appears on the page at `url` (see the module docstring)."""
    if show_on and not any(matches(pattern, url) for pattern in show_on):
        return False
    return not any(matches(pattern, url) for pattern in hide_on)


def is_shown_in(location: str, show_in: Sequence[str], hide_in: Sequence[str]) -> bool:
    """Whether the widget appears to a visitor at `location` ("City, Country" from the
    GeoIP database, blank when unknown), by the widget's location rules (F-CH-1): a
    rule holds when the location contains it, ignoring case. With `show_in` rules an
    unknown location does not show the widget: where the visitor is is not guessed."""
    folded = location.casefold()
    if show_in and not any(rule.casefold() in folded for rule in show_in if folded):
        return False
    return not any(rule.casefold() in folded for rule in hide_in if folded)


def snippet(parley_url: str, public_key: str) -> str:
    """The one tag a site adds to its pages; `parley_url` is how browsers reach Parley
    (`https://parley.example`)."""
    src = parley_url.rstrip("/") + SCRIPT_PATH
    return (
        f'<script src="{html.escape(src)}" '
        f'data-parley-widget="{html.escape(public_key)}" async></script>'
    )


@dataclass(frozen=True, slots=True)
class Look:
    """A widget's appearance as configured; blank texts mean "the default"."""

    button_text: str
    window_title: str
    accent_color: str
    accent_text_color: str
    position: str
    offset_x: int
    offset_y: int
    operator_name: str
    operator_photo_url: str


@dataclass(frozen=True, slots=True)
class Forms:
    """A widget's forms as configured (F-CH-2): the pre-chat fields and which are
    required, the offline form, and when the holding text and the prompt to leave
    contacts appear without an agent's answer (blank texts mean "the default")."""

    prechat_fields: tuple[str, ...] = ()
    prechat_required: tuple[str, ...] = ()
    offline_form_enabled: bool = False
    holding_after_seconds: int = 30
    holding_text: str = ""
    contacts_after_seconds: int = 60
    contacts_text: str = ""


class FormsOut(BaseModel):
    prechat_fields: list[str]
    prechat_required: list[str]
    offline_form_enabled: bool
    holding_after_seconds: int
    contacts_after_seconds: int


class FormTextsOut(BaseModel):
    """The forms' texts, apart from the chat's so older tests of `TextsOut` hold."""

    prechat_title: str
    name: str
    email: str
    phone: str
    question: str
    required: str
    start: str
    offline_title: str
    message: str
    offline_send: str
    offline_sent: str
    holding: str
    contacts_prompt: str
    contacts_send: str
    contacts_saved: str
    error_invalid: str


def form_texts_for(forms: Forms, translations: gettext.NullTranslations) -> FormTextsOut:
    _ = translations.gettext
    return FormTextsOut(
        prechat_title=_("Before we start, tell us about yourself"),
        name=_("Name"),
        email=_("Email"),
        phone=_("Phone"),
        question=_("Your question"),
        required=_("required"),
        start=_("Start chat"),
        offline_title=_("No one can answer right now. Leave us a message and we will write back."),
        message=_("Message"),
        offline_send=_("Send message"),
        offline_sent=_("Thank you! We have your message and will answer by email."),
        holding=forms.holding_text or _("Thank you for waiting. An operator will answer soon."),
        contacts_prompt=forms.contacts_text
        or _("All operators are busy. Leave your contacts and we will get back to you."),
        contacts_send=_("Leave contacts"),
        contacts_saved=_("Thank you! We will get back to you."),
        error_invalid=_("Please check the highlighted fields."),
    )


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What files a widget's chats take (F-CH-6; checked again by the server, files.py)."""

    max_bytes: int = 10 * 1024 * 1024
    kinds: tuple[str, ...] = ("image", "pdf", "office", "text")


class FilesOut(BaseModel):
    max_bytes: int
    kinds: list[str]  # of image, pdf, office, text; empty: no files


class FileTextsOut(BaseModel):
    """The texts of sending and receiving files; `too_large` has a `{size}` placeholder."""

    attach: str
    drop: str
    uploading: str
    download: str
    too_large: str
    wrong_type: str
    failed: str


def file_texts_for(translations: gettext.NullTranslations) -> FileTextsOut:
    _ = translations.gettext
    return FileTextsOut(
        attach=_("Attach a file"),
        drop=_("Drop the file here to send it"),
        uploading=_("Uploading…"),
        download=_("Download"),
        too_large=_("This file is too large: at most {size}."),
        wrong_type=_("This kind of file cannot be sent."),
        failed=_("The file could not be sent. Please try again."),
    )


class LookOut(BaseModel):
    position: str
    offset_x: int
    offset_y: int
    accent_color: str
    accent_text_color: str
    operator_name: str
    operator_photo_url: str


class TextsOut(BaseModel):
    """Every text the widget shows. The script holds no strings of its own, so the
    catalogs stay the one place translations live."""

    button: str
    title: str
    placeholder: str
    send: str
    typing: str
    minimize: str
    restore: str
    close: str
    sending: str
    sent: str
    read: str
    not_sent: str
    retry_hint: str
    ended: str
    reconnecting: str
    unavailable: str
    unread: str
    error_bad_frame: str
    error_frame_too_large: str
    error_rate_limited: str
    error_generic: str
    # A proactive or an agent's invitation (F-CH-3).
    invitation_accept: str
    invitation_decline: str
    # The agent's tools (F-CH-6) and the rating at the end (F-CH-8).
    ended_inactivity: str
    ended_banned: str
    error_banned: str
    rating_title: str
    rating_scale: str
    rating_comment: str
    rating_send: str
    rating_thanks: str


class WidgetConfigOut(BaseModel):
    """What `GET /chat/widgets/{public_key}/config` answers an allowed page with."""

    language: str
    is_shown: bool
    look: LookOut
    texts: TextsOut
    forms: FormsOut
    form_texts: FormTextsOut
    files: FilesOut
    file_texts: FileTextsOut


def texts_for(look: Look, translations: gettext.NullTranslations) -> TextsOut:
    """The widget's texts in one language: the configured button text and title, else
    the defaults; everything else from the catalog."""
    _ = translations.gettext
    return TextsOut(
        button=look.button_text or _("Chat with us"),
        title=look.window_title or _("Questions? We are here to help"),
        placeholder=_("Type your message…"),
        send=_("Send"),
        typing=_("Operator is typing…"),
        minimize=_("Minimize"),
        restore=_("Restore"),
        close=_("Close"),
        sending=_("Sending…"),
        sent=_("Sent"),
        read=_("Read"),
        not_sent=_("Not sent"),
        retry_hint=_("It will be sent when the connection is back."),
        ended=_("The chat has ended. Write again to start a new one."),
        reconnecting=_("Connection lost. Reconnecting…"),
        unavailable=_("The chat is not available right now."),
        unread=_("Unread messages"),
        error_bad_frame=_("This message could not be sent."),
        error_frame_too_large=_("This message is too long."),
        error_rate_limited=_("Too many messages at once. Please wait a moment."),
        error_generic=_("Something went wrong. Please try again."),
        invitation_accept=_("Chat now"),
        invitation_decline=_("No, thanks"),
        ended_inactivity=_("The chat was closed because there were no new messages."),
        ended_banned=_("The chat was closed by the operator."),
        error_banned=_("You cannot start a new chat at the moment."),
        rating_title=_("How would you rate this chat?"),
        rating_scale=_("1 is poor, 5 is excellent"),
        rating_comment=_("Comment (optional)"),
        rating_send=_("Send rating"),
        rating_thanks=_("Thank you for your rating!"),
    )


def config_for(
    look: Look,
    translations: gettext.NullTranslations,
    language: str,
    is_shown: bool,
    forms: Forms | None = None,
    files: FileLimits | None = None,
) -> WidgetConfigOut:
    forms = forms or Forms()
    files = files or FileLimits()
    return WidgetConfigOut(
        language=language,
        is_shown=is_shown,
        look=LookOut(
            position=look.position,
            offset_x=look.offset_x,
            offset_y=look.offset_y,
            accent_color=look.accent_color,
            accent_text_color=look.accent_text_color,
            operator_name=look.operator_name,
            operator_photo_url=look.operator_photo_url,
        ),
        texts=texts_for(look, translations),
        forms=FormsOut(
            prechat_fields=list(forms.prechat_fields),
            prechat_required=list(forms.prechat_required),
            offline_form_enabled=forms.offline_form_enabled,
            holding_after_seconds=forms.holding_after_seconds,
            contacts_after_seconds=forms.contacts_after_seconds,
        ),
        form_texts=form_texts_for(forms, translations),
        files=FilesOut(max_bytes=files.max_bytes, kinds=list(files.kinds)),
        file_texts=file_texts_for(translations),
    )
