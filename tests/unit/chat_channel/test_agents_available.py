"""Whether a web chat can be answered now (F-CH-2: else the widget offers its offline
form), as the router tells: the queue open and an agent logged in who qualifies."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.platform.routing import Agent, Queue, Router

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _router(*, is_open: bool = True, min_level: int = 1) -> Router:
    return Router([Queue("chat", frozenset({"chat"}), {"support": min_level}, is_open=is_open)])


def _agent(level: int = 3, *, is_available: bool = True) -> Agent:
    return Agent("anna", {"support": level}, {"chat": 2}, NOW, is_available=is_available)


def test_nobody_logged_in_means_no_answer() -> None:
    assert not _router().has_agents_for("chat", NOW)


def test_a_logged_in_agent_answers_even_when_not_ready_yet() -> None:
    router = _router()
    router.add_agent(_agent(is_available=False))
    assert router.has_agents_for("chat", NOW)
    router.remove_agent("anna")
    assert not router.has_agents_for("chat", NOW)


def test_an_agent_without_the_skill_does_not_count() -> None:
    router = _router(min_level=5)
    router.add_agent(_agent(level=3))
    assert not router.has_agents_for("chat", NOW)


def test_a_closed_queue_has_no_answer_and_an_unknown_one_neither() -> None:
    router = _router(is_open=False)
    router.add_agent(_agent())
    assert not router.has_agents_for("chat", NOW)
    assert not router.has_agents_for("nope", NOW)
