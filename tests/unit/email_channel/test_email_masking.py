"""Masking confidential data out of an email's text and HTML (masking.py), pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parley.email_channel.masking import MASK, Pattern, mask_message

CARD = "4111 1111 1111 1111"  # passes the Luhn check


def test_a_card_number_is_masked_only_when_it_passes_the_luhn_check() -> None:
    masked = mask_message(f"Card {CARD}, order 4111 1111 1111 1112.", "", [], [Pattern.CARD])
    assert masked.text == f"Card {MASK}, order 4111 1111 1111 1112." and masked.count == 1


def test_account_numbers_and_ibans_are_masked() -> None:
    text = "Account 40817810099910004312 or DE89 3704 0044 0532 0130 00 please"
    masked = mask_message(text, "", [], [Pattern.ACCOUNT])
    assert masked.text == f"Account {MASK} or {MASK} please" and masked.count == 2


def test_a_selection_is_found_whatever_white_space_separates_its_words() -> None:
    masked = mask_message("my password\nis hunter2", "", ["password is hunter2"], [])
    assert masked.text == f"my {MASK}" and masked.count == 1


def test_html_keeps_its_tags_and_entities_are_read_as_characters() -> None:
    masked = mask_message("a & b secret", "<p>a &amp; <b>b</b> secret</p>", ["secret"], [])
    assert masked.html == f"<p>a &amp; <b>b</b> {MASK}</p>"


def test_a_selection_across_tags_gives_way_to_the_masked_text() -> None:
    masked = mask_message("top secret", "<p>top <i>secret</i></p>", ["top secret"], [])
    assert "secret" not in masked.html and MASK in masked.html and "<i>" not in masked.html


def test_a_selection_in_an_attribute_is_not_left_behind() -> None:
    masked = mask_message("pin 9876", '<p title="pin 9876">pin 9876</p>', ["pin 9876"], [])
    assert "9876" not in masked.html


@given(
    before=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    secret=st.text(alphabet="abcdefghXYZ0123456789", min_size=4, max_size=20),
    after=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_what_was_selected_is_never_left_in_the_text_or_html(
    before: str, secret: str, after: str
) -> None:
    text = f"{before} {secret} {after}"
    html = f"<div>{before}<b>{secret}</b>{after}</div>"
    masked = mask_message(text, html, [secret], [Pattern.CARD, Pattern.ACCOUNT])
    assert secret not in masked.text and secret not in masked.html
