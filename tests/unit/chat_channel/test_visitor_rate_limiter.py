"""How fast a visitor may send (domain.VisitorRateLimiter): per visitor and per IP
address, with time passed in, and memory that follows the active visitors only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from parley.chat_channel.domain import RateLimit, RateLimited, VisitorRateLimiter

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
IP = "203.0.113.7"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def limiter(
    visitor: tuple[float, float] = (1, 3), ip: tuple[float, float] = (10, 10)
) -> VisitorRateLimiter:
    return VisitorRateLimiter(RateLimit(*visitor), RateLimit(*ip))


def test_a_visitor_may_burst_then_is_refused_until_the_bucket_refills() -> None:
    limits = limiter(visitor=(1, 3))
    assert [limits.check("v1", IP, T0) for _ in range(4)] == [None, None, None, RateLimited.VISITOR]
    assert limits.check("v1", IP, at(0.5)) is RateLimited.VISITOR
    assert limits.check("v1", IP, at(1)) is None
    assert limits.check("v1", IP, at(1)) is RateLimited.VISITOR


def test_visitors_behind_one_address_share_its_limit() -> None:
    limits = limiter(visitor=(1, 3), ip=(1, 4))
    decisions = [limits.check(f"v{n}", IP, T0) for n in range(5)]
    assert decisions == [None, None, None, None, RateLimited.IP]
    assert limits.check("v9", "198.51.100.1", T0) is None


def test_a_visitor_over_their_own_limit_does_not_spend_the_addresss() -> None:
    limits = limiter(visitor=(1, 2), ip=(1, 4))
    for _ in range(10):
        limits.check("flooder", IP, T0)
    # the flooder took two of the address's four tokens, the refused frames none
    assert [limits.check(f"v{n}", IP, T0) for n in range(3)] == [None, None, RateLimited.IP]


def test_a_clock_going_back_does_not_drain_the_buckets() -> None:
    limits = limiter(visitor=(1, 3))
    assert limits.check("v1", IP, at(10)) is None
    assert limits.check("v1", IP, at(0)) is None
    assert limits.check("v1", IP, at(5)) is None
    assert limits.check("v1", IP, at(5)) is RateLimited.VISITOR


def test_idle_visitors_and_addresses_are_forgotten() -> None:
    limits = limiter(visitor=(1, 3), ip=(10, 10))
    for n in range(100):
        limits.check(f"v{n}", f"198.51.100.{n}", T0)
    assert limits.tracked == (100, 100)
    limits.check("late", IP, at(3))  # every bucket above is full again by now
    assert limits.tracked == (1, 1)


@given(
    gaps=st.lists(st.integers(0, 2000), max_size=60),  # milliseconds between frames
    rate=st.integers(1, 10),
    burst=st.integers(1, 20),
)
def test_a_visitor_never_gets_more_than_the_burst_plus_the_refill(
    gaps: list[int], rate: int, burst: int
) -> None:
    limits = limiter(visitor=(rate, burst), ip=(1000, 1000))
    elapsed = 0
    allowed = 0
    for gap in gaps:
        elapsed += gap
        if limits.check("v1", IP, T0 + timedelta(milliseconds=elapsed)) is None:
            allowed += 1
    assert allowed <= burst + rate * elapsed / 1000
    if all(gap * rate > 1000 for gap in gaps[1:]):
        assert allowed == len(gaps)  # slower than the refill: nothing refused
