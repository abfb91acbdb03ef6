"""Where the widget shows (page URL rules with `*`), its snippet, and its texts."""

from __future__ import annotations

import gettext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.chat_channel import widget

SHOP = "https://shop.example"


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        (f"{SHOP}/", f"{SHOP}/", True),
        (f"{SHOP}/", f"{SHOP}/help", False),  # no `*`: the whole URL, exactly
        (f"{SHOP}/help/*", f"{SHOP}/help/delivery", True),
        (f"{SHOP}/help/*", f"{SHOP}/help/", True),  # `*` may be empty
        (f"{SHOP}/help/*", f"{SHOP}/helpdesk", False),
        ("*/checkout*", f"{SHOP}/checkout?step=2", True),
        ("*/checkout*", f"{SHOP}/cart", False),
        ("*.example/*", f"{SHOP}/a", True),
        ("https://shop.example/a.b", "https://shop.example/aXb", False),  # `.` is literal
        ("https://shop.example/(x)?", "https://shop.example/(x)?", True),
        ("*", "anything at all", True),
    ],
)
def test_a_rule_matches_the_whole_url_with_star_as_any_text(
    pattern: str, url: str, expected: bool
) -> None:
    assert widget.matches(pattern, url) is expected


@given(st.text(), st.text(), st.text())
def test_a_star_stands_for_any_text_and_nothing_else_is_special(
    prefix: str, middle: str, suffix: str
) -> None:
    literal_prefix, literal_suffix = prefix.replace("*", ""), suffix.replace("*", "")
    pattern = f"{literal_prefix}*{literal_suffix}"
    assert widget.matches(pattern, literal_prefix + middle + literal_suffix)
    assert widget.matches(literal_prefix, literal_prefix)


def test_show_rules_narrow_and_hide_rules_win() -> None:
    assert widget.is_shown_on(f"{SHOP}/any", [], [])
    assert widget.is_shown_on(f"{SHOP}/help/a", [f"{SHOP}/help/*"], [])
    assert not widget.is_shown_on(f"{SHOP}/cart", [f"{SHOP}/help/*"], [])
    assert not widget.is_shown_on(f"{SHOP}/help/private", [f"{SHOP}/help/*"], ["*/private*"])
    assert not widget.is_shown_on(f"{SHOP}/private", [], ["*/private*"])


def test_the_snippet_is_one_escaped_async_script_tag() -> None:
    assert widget.snippet("https://parley.example/", "w_abc") == (
        '<script src="https://parley.example/chat/widget.js" '
        'data-parley-widget="w_abc" async></script>'
    )
    assert '"><' not in widget.snippet('https://x.example/"><b', "w_abc")


def _look(**changes: object) -> widget.Look:
    values: dict[str, object] = {
        "button_text": "",
        "window_title": "",
        "accent_color": "#1f6feb",
        "accent_text_color": "#ffffff",
        "position": "bottom-right",
        "offset_x": 20,
        "offset_y": 20,
        "operator_name": "",
        "operator_photo_url": "",
        **changes,
    }
    return widget.Look(**values)  # type: ignore[arg-type]


def test_blank_texts_are_the_defaults_and_configured_ones_are_kept() -> None:
    english = gettext.NullTranslations()
    defaults = widget.texts_for(_look(), english)
    assert (defaults.button, defaults.title) == ("Chat with us", "Questions? We are here to help")
    assert defaults.typing == "Operator is typing…"
    configured = widget.texts_for(_look(button_text="Ask Anna", window_title="Help"), english)
    assert (configured.button, configured.title) == ("Ask Anna", "Help")
