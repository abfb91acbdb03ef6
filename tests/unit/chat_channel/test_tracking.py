"""What tracking reads from a visit (F-CH-5) and where location rules show the widget
(F-CH-1), without I/O: browser and OS from User-Agents, the recent pages of a visit."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.chat_channel.tracking import MAX_PAGES_KEPT, Software, describe_user_agent, recent_pages
from parley.chat_channel.widget import is_shown_in

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_browser_and_os_come_from_the_user_agent() -> None:
    firefox = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    safari = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert describe_user_agent(firefox) == Software("Firefox 133", "Ubuntu")
    assert describe_user_agent(safari) == Software("Mobile Safari 17", "iOS 17")


def test_an_unknown_user_agent_is_left_blank() -> None:
    assert describe_user_agent("") == Software()
    assert describe_user_agent("???") == Software()


def test_recent_pages_keep_the_newest_and_a_reload_only_retitles() -> None:
    pages = recent_pages([], "https://shop.example/", "Home", NOW)
    pages = recent_pages(pages, "https://shop.example/", "Home (1)", NOW)
    assert [(page["url"], page["title"]) for page in pages] == [
        ("https://shop.example/", "Home (1)")
    ]
    for number in range(MAX_PAGES_KEPT + 5):
        pages = recent_pages(pages, f"https://shop.example/{number}", str(number), NOW)
    assert len(pages) == MAX_PAGES_KEPT
    assert pages[-1]["url"] == f"https://shop.example/{MAX_PAGES_KEPT + 4}"


def test_location_rules_contain_and_never_guess() -> None:
    assert is_shown_in("", (), ())
    assert is_shown_in("Kraków, Poland", ("poland",), ())
    assert not is_shown_in("Berlin, Germany", ("Poland",), ())
    assert not is_shown_in("", ("Poland",), ())  # unknown: not shown where asked for
    assert is_shown_in("", (), ("Poland",))  # and not hidden on a guess either
    assert not is_shown_in("Kraków, Poland", (), ("kraków",))
