"""Which proactive invitation scenario fires (F-CH-3): conditions, specificity, the
manual re-invite rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from parley.chat_channel.invitations import (
    Scenario,
    VisitorState,
    choose,
    matches,
    may_invite_manually,
)

VISITOR = VisitorState(
    time_on_site=timedelta(seconds=120),
    time_on_page=timedelta(seconds=40),
    invitations_seen=1,
    since_last_invitation=timedelta(minutes=5),
    is_agent_online=True,
    is_new_visitor=False,
    page_url="https://shop.example/product/42/reviews?utm=ad",
    referrer="https://www.Google.com/search?q=shoes",
    location="Kraków, Poland",
)


def test_a_scenario_without_conditions_invites_everyone() -> None:
    assert matches(Scenario(1, "Hi"), VISITOR)


def test_time_conditions_are_minimums() -> None:
    assert matches(Scenario(1, "Hi", min_time_on_site=timedelta(seconds=120)), VISITOR)
    assert not matches(Scenario(1, "Hi", min_time_on_site=timedelta(seconds=121)), VISITOR)
    assert matches(Scenario(1, "Hi", min_time_on_page=timedelta(seconds=40)), VISITOR)
    assert not matches(Scenario(1, "Hi", min_time_on_page=timedelta(seconds=41)), VISITOR)


def test_invitations_seen_and_time_since_the_last_one() -> None:
    assert matches(Scenario(1, "Hi", max_invitations_seen=1), VISITOR)
    assert not matches(Scenario(1, "Hi", max_invitations_seen=0), VISITOR)
    assert matches(Scenario(1, "Hi", min_since_last_invitation=timedelta(minutes=5)), VISITOR)
    assert not matches(Scenario(1, "Hi", min_since_last_invitation=timedelta(minutes=6)), VISITOR)
    never = replace(VISITOR, since_last_invitation=None, invitations_seen=0)
    assert matches(Scenario(1, "Hi", min_since_last_invitation=timedelta(hours=1)), never)


def test_agent_online_and_new_visitor() -> None:
    assert matches(Scenario(1, "Hi", requires_agent_online=True), VISITOR)
    assert not matches(
        Scenario(1, "Hi", requires_agent_online=True), replace(VISITOR, is_agent_online=False)
    )
    assert not matches(Scenario(1, "Hi", is_new_visitor=True), VISITOR)
    assert matches(Scenario(1, "Hi", is_new_visitor=False), VISITOR)


def test_url_contains_with_stars_and_lists() -> None:
    assert matches(Scenario(1, "Hi", url_patterns=("/product/",)), VISITOR)
    assert matches(Scenario(1, "Hi", url_patterns=("/product/*/reviews",)), VISITOR)
    assert matches(Scenario(1, "Hi", url_patterns=("/cart", "utm=ad")), VISITOR)
    assert not matches(Scenario(1, "Hi", url_patterns=("/cart", "/checkout")), VISITOR)
    assert not matches(Scenario(1, "Hi", url_patterns=("/reviews/*/product",)), VISITOR)


def test_referrer_and_location_contain_ignoring_case() -> None:
    assert matches(Scenario(1, "Hi", referrer_contains=("google.com",)), VISITOR)
    assert not matches(Scenario(1, "Hi", referrer_contains=("bing.com",)), VISITOR)
    assert matches(Scenario(1, "Hi", location_contains=("poland",)), VISITOR)
    assert matches(Scenario(1, "Hi", location_contains=("Berlin", "kraków")), VISITOR)
    assert not matches(Scenario(1, "Hi", location_contains=("Germany",)), VISITOR)


def test_an_unknown_location_never_matches_a_location_condition() -> None:
    unknown = replace(VISITOR, location="")
    assert not matches(Scenario(1, "Hi", location_contains=("Poland",)), unknown)


def test_the_most_specific_matching_scenario_wins() -> None:
    fallback = Scenario(1, "Anyone", min_time_on_site=timedelta(seconds=60))
    product = Scenario(
        2,
        "About this product?",
        min_time_on_site=timedelta(seconds=60),
        url_patterns=("/product/",),
    )
    from_ad = Scenario(
        3,
        "From the ad",
        referrer_contains=("bing",),
        url_patterns=("/product/",),
        max_invitations_seen=5,
    )
    assert choose([fallback, product, from_ad], VISITOR) == product
    assert choose([fallback], replace(VISITOR, time_on_site=timedelta(seconds=1))) is None


def test_of_equally_specific_scenarios_the_first_configured_wins() -> None:
    first = Scenario(4, "A", url_patterns=("/product/",))
    second = Scenario(7, "B", referrer_contains=("google",))
    assert choose([second, first], VISITOR) == first


def test_manual_invitation_again_only_after_ten_seconds() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert may_invite_manually(None, now)
    assert not may_invite_manually(now - timedelta(seconds=9), now)
    assert may_invite_manually(now - timedelta(seconds=10), now)


_seconds = st.integers(min_value=0, max_value=1000).map(lambda s: timedelta(seconds=s))
_maybe_seconds = st.none() | _seconds
_texts = st.lists(st.sampled_from(["/product/", "google", "Poland", "/cart", "x*y"]), max_size=2)
_scenarios = st.builds(
    Scenario,
    id=st.integers(min_value=1, max_value=50),
    message=st.just("Hi"),
    min_time_on_site=_maybe_seconds,
    min_time_on_page=_maybe_seconds,
    max_invitations_seen=st.none() | st.integers(min_value=0, max_value=5),
    min_since_last_invitation=_maybe_seconds,
    requires_agent_online=st.booleans(),
    is_new_visitor=st.none() | st.booleans(),
    url_patterns=_texts.map(tuple),
    referrer_contains=_texts.map(tuple),
    location_contains=_texts.map(tuple),
)
_visitors = st.builds(
    VisitorState,
    time_on_site=_seconds,
    time_on_page=_seconds,
    invitations_seen=st.integers(min_value=0, max_value=6),
    since_last_invitation=_maybe_seconds,
    is_agent_online=st.booleans(),
    is_new_visitor=st.booleans(),
    page_url=st.sampled_from(["https://shop.example/product/1", "https://shop.example/cart"]),
    referrer=st.sampled_from(["", "https://google.com/"]),
    location=st.sampled_from(["", "Warsaw, Poland", "Berlin, Germany"]),
)


@given(st.lists(_scenarios, max_size=8), _visitors)
def test_the_chosen_scenario_matches_and_none_matching_is_more_specific(
    scenarios: list[Scenario], visitor: VisitorState
) -> None:
    chosen = choose(scenarios, visitor)
    matching = [scenario for scenario in scenarios if matches(scenario, visitor)]
    if chosen is None:
        assert not matching
        return
    assert matches(chosen, visitor)
    assert all(scenario.specificity <= chosen.specificity for scenario in matching)
    assert chosen.id == min(s.id for s in matching if s.specificity == chosen.specificity)


@given(_scenarios, _visitors, _seconds)
def test_staying_longer_never_cancels_an_invitation(
    scenario: Scenario, visitor: VisitorState, more: timedelta
) -> None:
    later = replace(
        visitor,
        time_on_site=visitor.time_on_site + more,
        time_on_page=visitor.time_on_page + more,
        since_last_invitation=(
            None if visitor.since_last_invitation is None else visitor.since_last_invitation + more
        ),
    )
    if matches(scenario, visitor):
        assert matches(scenario, later)
