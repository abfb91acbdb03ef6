"""The widget's forms without I/O (F-CH-2): the `details` and `offline_message` frames
as the edge checks them, which required fields are missing, what the agent's offer
shows, a left message's case subject and the notification mail."""

from __future__ import annotations

import gettext
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.chat_channel import forms, protocol, widget


def _refused(frame: dict[str, object]) -> list[str]:
    with pytest.raises(protocol.FrameRejected) as caught:
        protocol.read_frame(json.dumps(frame))
    assert caught.value.error_code is protocol.ErrorCode.BAD_FRAME
    return [error.field for error in caught.value.fields]


def test_details_are_read_with_the_email_in_lower_case() -> None:
    frame = protocol.read_frame(
        json.dumps({"type": "details", "name": "Eve", "email": "Eve@Example.COM"})
    )
    assert frame == protocol.Details(type="details", name="Eve", email="eve@example.com")


def test_bad_details_are_refused_naming_each_field() -> None:
    assert _refused(
        {"type": "details", "name": " ", "email": "eve@", "phone": "call me", "age": 3}
    ) == ["details.name", "details.email", "details.phone", "details.age"]
    assert _refused({"type": "details", "question": "x" * 4001}) == ["details.question"]
    assert _refused({"type": "details", "name": 5}) == ["details.name"]


def test_an_offline_message_needs_every_field() -> None:
    assert _refused({"type": "offline_message", "client_msg_id": "a b"}) == [
        "offline_message.client_msg_id",
        "offline_message.name",
        "offline_message.email",
        "offline_message.text",
    ]


def test_missing_required_lists_the_absent_ones_in_form_order() -> None:
    assert forms.missing_required(["phone", "email"], {"name": "Eve"}) == ("email", "phone")
    assert forms.missing_required(["email"], {"email": "eve@example.com"}) == ()
    assert forms.missing_required([], {}) == ()


def test_the_screen_pop_shows_the_answers_given() -> None:
    details = {"name": "Eve", "email": "eve@example.com", "phone": "", "question": "Where?"}
    assert forms.screen_pop(details) == {"email": "eve@example.com", "question": "Where?"}


@given(st.text(max_size=600))
def test_a_case_subject_is_one_short_line(text: str) -> None:
    subject = forms.case_subject(text)
    assert "\n" not in subject and "\r" not in subject
    assert len(subject) <= forms.MAX_SUBJECT_CHARS
    assert bool(subject) == bool(text.strip())


def test_a_case_subject_is_the_first_line_that_says_something() -> None:
    assert forms.case_subject("\n  \nCall me   back\nabout 1234") == "Call me back"


def test_the_notification_names_the_case_and_the_visitor() -> None:
    mail = forms.notification(
        gettext.NullTranslations(),
        widget_name="Shop",
        case_id=42,
        name="Eve",
        email="eve@example.com",
        text="Call me back",
        page_url="https://shop.example/kettles",
    )
    assert mail.subject == "Chat message from Eve: Call me back"
    assert "Case: #42" in mail.text and "eve@example.com" in mail.text
    assert "https://shop.example/kettles" in mail.text


def test_configured_waiting_texts_win_over_the_defaults() -> None:
    english = gettext.NullTranslations()
    defaults = widget.form_texts_for(widget.Forms(), english)
    assert defaults.holding == "Thank you for waiting. An operator will answer soon."
    configured = widget.form_texts_for(
        widget.Forms(holding_text="Hold on.", contacts_text="Leave a number."), english
    )
    assert (configured.holding, configured.contacts_prompt) == ("Hold on.", "Leave a number.")
