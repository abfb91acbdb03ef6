"""The REST routes the agent desktop reads besides the admin API: the caller's statistics
(`/api/me/stats`), work in hand (`/api/me/work`) and language (`/api/me/language`), the
directory (`/api/directory`) and a contact's history (`/api/contacts/{id}/interactions`).

The engine runs in the app with its timer loop off and a manual clock, so time moves only
when a test moves it: agents log in and take work through the engine's service API,
supervisors queue work through `POST /api/interactions`, as the engine tests do, and
work ends through the engine's task API, as a channel ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parley.platform.auth.passwords import hash_password
from parley.platform.clock import ManualClock
from parley.platform.config import Settings
from parley.platform.engine import Engine
from parley.platform.models import (
    AgentSkill,
    AgentStateLog,
    Case,
    Channel,
    Contact,
    Direction,
    Disposition,
    Interaction,
    InteractionState,
    Queue,
    QueueSkill,
    ReasonCode,
    Role,
    Skill,
    Team,
    User,
)
from tests.conftest import PASSWORD, Api, audit_rows, fields, let_time_pass, sign_in

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
MIDNIGHT = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine_ticks = False  # timers fire when a test calls engine.tick()
    return settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@dataclass
class Desk:
    """The app with a manual clock, a queue taking every channel, and helpers to act as
    the people of a contact center."""

    api: Api
    clock: ManualClock
    queue_id: int
    skill_id: int
    supervisor: httpx.AsyncClient
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        engine: Engine = self.api.app.state.runtime.require_engine()  # type: ignore[attr-defined]
        return engine

    def transaction(self) -> Any:
        return self.api.app.state.runtime.database.transaction()  # type: ignore[attr-defined]

    async def add_user(
        self,
        username: str,
        display_name: str,
        *,
        role: Role = Role.AGENT,
        team_id: int | None = None,
        is_active: bool = True,
    ) -> int:
        async with self.transaction() as db:
            user = User(
                username=username,
                display_name=display_name,
                password_hash=hash_password(PASSWORD),
                role=role,
                team_id=team_id,
                is_active=is_active,
            )
            db.add(user)
            await db.flush()
            if role is Role.AGENT:
                db.add(AgentSkill(user_id=user.id, skill_id=self.skill_id, level=5))
            return user.id

    async def client_for(self, username: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.api.app),  # type: ignore[arg-type]
            base_url="http://testserver",
        )
        self.clients.append(client)
        await sign_in(client, username)
        return client

    async def ready(self, *agents: int) -> None:
        for agent in agents:
            await self.engine.login(agent)
            await self.engine.request_ready(agent)

    def advance(self, seconds: float) -> None:
        let_time_pass(self.clock, self.engine, seconds)

    async def enqueue(self, channel: str, **fields: Any) -> int:
        response = await self.supervisor.post(
            "/api/interactions", json={"channel": channel, "queue_id": self.queue_id, **fields}
        )
        assert response.status_code == 201, response.text
        return int(response.json()["interaction_id"])

    def offer_for(self, agent: int) -> str:
        offers = self.engine.ringing_offers(agent)
        assert len(offers) == 1, offers
        return offers[0].offer_id

    async def take(self, agent: int, *, ring_seconds: float = 0) -> int:
        """The agent accepts the one offer ringing for them, after `ring_seconds`."""
        offer_id = self.offer_for(agent)
        self.advance(ring_seconds)
        return await self.engine.accept(agent, offer_id)


@pytest.fixture
async def desk(api: Api, clock: ManualClock) -> AsyncIterator[Desk]:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.transaction() as db:
        skill = Skill(name="billing")
        db.add(skill)
        await db.flush()
        queue = Queue(
            name="Support",
            channels=["voice", "chat", "email"],
            wrap_up_seconds=30,
            offer_timeout_seconds=30,
        )
        db.add(queue)
        await db.flush()
        db.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=1))
        db.add(ReasonCode(code="lunch", name="Lunch"))
        db.add(ReasonCode(code="training", name="Training", is_productive=True))
        db.add(ReasonCode(code="coffee", name="Coffee", is_active=False))
        # A label for the state machine's own reason: non-productive by default, no break.
        db.add(ReasonCode(code="login", name="Logging in"))
        queue_id, skill_id = queue.id, skill.id
    await runtime.require_engine().reload_configuration()
    desk = Desk(api, clock, queue_id, skill_id, supervisor=api.client)
    await desk.add_user("sam", "Sam Supervisor", role=Role.SUPERVISOR)
    desk.supervisor = await desk.client_for("sam")
    yield desk
    for client in desk.clients:
        await client.aclose()


async def _team(desk: Desk, name: str, break_budget_minutes: int | None = None) -> int:
    async with desk.transaction() as db:
        team = Team(name=name, break_budget_minutes=break_budget_minutes)
        db.add(team)
        await db.flush()
        return team.id


async def _add(desk: Desk, rows: Iterable[Any]) -> list[int]:
    async with desk.transaction() as db:
        added = list(rows)
        db.add_all(added)
        await db.flush()
        return [row.id for row in added]


def _at(seconds: float) -> str:
    """START + seconds as the API writes it."""
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- GET /api/me/stats -------------------------------------------------------------------


async def test_my_stats_show_the_handled_work_time_in_state_and_breaks_of_today(
    desk: Desk,
) -> None:
    alpha = await _team(desk, "Alpha", break_budget_minutes=30)
    anna = await desk.add_user("anna", "Anna", team_id=alpha)
    boris = await desk.add_user("boris", "Boris", team_id=alpha)
    await desk.add_user("carl", "Carl", team_id=alpha)  # in the team, absent today
    dora = await desk.add_user("dora", "Dora")  # no team: her work is not Alpha's
    anna_client = await desk.client_for("anna")
    boris_client = await desk.client_for("boris")

    # 09:00:00 Anna logs in (not ready: login) and is ready a minute later.
    await desk.engine.login(anna)
    desk.advance(60)
    await desk.engine.request_ready(anna)
    # 09:01:00 a call rings for 10 s, she talks 120 s, the wrap-up timer ends it at 30 s.
    call = await desk.enqueue("voice")
    assert await desk.take(anna, ring_seconds=10) == call
    desk.advance(120)
    await desk.engine.complete(call)
    desk.advance(30)
    await desk.engine.tick()
    # 09:03:40 ready for 20 s; a chat rings 5 s, lasts 60 s, wrap-up done after 10 s.
    desk.advance(20)
    chat = await desk.enqueue("chat")
    assert await desk.take(anna, ring_seconds=5) == chat
    desk.advance(60)
    await desk.engine.complete(chat)
    desk.advance(10)
    await desk.engine.wrap_up_done(anna)
    # 09:05:15 lunch (a break) for 20 minutes.
    await desk.engine.request_not_ready(anna, "lunch")
    desk.advance(60)
    # 09:06:15, during Anna's lunch: Boris takes an email for 30 s; Dora one for 45 s.
    await desk.ready(boris)
    email = await desk.enqueue("email")
    await desk.take(boris, ring_seconds=5)
    desk.advance(30)
    await desk.engine.complete(email)
    desk.advance(30)
    await desk.engine.tick()
    await desk.engine.logout(boris)
    await desk.ready(dora)
    other = await desk.enqueue("email")
    await desk.take(dora)
    desk.advance(45)
    await desk.engine.complete(other)
    desk.advance(1200 - 60 - 5 - 30 - 30 - 45)
    # 09:25:15 back from lunch; 09:26:00 training (productive) until now, 09:31:00.
    await desk.engine.request_ready(anna)
    desk.advance(45)
    await desk.engine.request_not_ready(anna, "training")
    desk.advance(300)
    await desk.engine.tick()
    assert desk.clock.now() == START + timedelta(minutes=31)

    response = await anna_client.get("/api/me/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["day"] == "2026-01-05"
    assert stats["time_zone"] == "UTC"
    assert _moment(stats["period_start"]) == MIDNIGHT
    assert _moment(stats["period_end"]) == START + timedelta(minutes=31)
    assert stats["handled"] == {
        "total": 2,
        "by_channel": {"chat": 1, "voice": 1},
        "aht_seconds": 90.0,
    }
    assert stats["time_in_state"] == {
        "not_ready": 60.0 + 1200.0 + 300.0,
        "ready": 20.0 + 45.0,
        "reserved": 10.0 + 5.0,
        "busy": 120.0 + 60.0,
        "wrap_up": 30.0 + 10.0,
    }
    assert sum(stats["time_in_state"].values()) == 31 * 60
    assert stats["not_ready_by_reason"] == {"login": 60.0, "lunch": 1200.0, "training": 300.0}
    assert stats["breaks"] == {
        "used_seconds": 1200.0,
        "budget_seconds": 1800.0,
        "remaining_seconds": 600.0,
        "is_over": False,
    }
    # Anna and Boris were at work (Carl was not): three interactions between two people.
    assert stats["team"] == {
        "id": alpha,
        "name": "Alpha",
        "agents_at_work": 2,
        "handled_average": 1.5,
        "aht_seconds": (120.0 + 60.0 + 30.0) / 3,
    }

    boris_stats = (await boris_client.get("/api/me/stats")).json()
    assert boris_stats["handled"] == {"total": 1, "by_channel": {"email": 1}, "aht_seconds": 30.0}
    assert boris_stats["breaks"]["used_seconds"] == 0.0
    assert boris_stats["breaks"]["remaining_seconds"] == 1800.0
    assert boris_stats["team"] == stats["team"]


async def test_my_stats_clip_yesterday_at_midnight_and_show_a_break_over_budget(
    desk: Desk,
) -> None:
    team = await _team(desk, "Night shift", break_budget_minutes=15)
    nina = await desk.add_user("nina", "Nina", team_id=team)

    def moment(hours: float) -> datetime:
        return MIDNIGHT + timedelta(hours=hours)

    await _add(
        desk,
        [
            # Lunch from 23:50 yesterday to 00:10: ten minutes of it were today.
            AgentStateLog(
                agent_id=nina, state="busy", started_at=moment(-2), ended_at=moment(-1 / 6)
            ),
            AgentStateLog(
                agent_id=nina,
                state="not_ready",
                reason="lunch",
                started_at=moment(-1 / 6),
                ended_at=moment(1 / 6),
            ),
            AgentStateLog(
                agent_id=nina,
                state="offline",
                reason="logout",
                started_at=moment(1 / 6),
                ended_at=moment(8),
            ),
            # A coffee break under a code retired since still counts as a break.
            AgentStateLog(
                agent_id=nina,
                state="not_ready",
                reason="coffee",
                started_at=moment(8),
                ended_at=moment(8 + 1 / 3),
            ),
            AgentStateLog(
                agent_id=nina, state="ready", started_at=moment(8 + 1 / 3), ended_at=None
            ),
        ],
    )
    await _add(
        desk,
        [
            # Answered yesterday, ended today: handled today, for its whole 10 minutes.
            Interaction(
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                agent_id=nina,
                created_at=moment(-0.1),
                answered_at=moment(-5 / 60),
                ended_at=moment(5 / 60),
            ),
            # Ended yesterday: not today's work.
            Interaction(
                channel=Channel.CHAT,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                agent_id=nina,
                created_at=moment(-3),
                answered_at=moment(-3),
                ended_at=moment(-2.5),
            ),
            # Never answered (abandoned while offered): not handled.
            Interaction(
                channel=Channel.CHAT,
                direction=Direction.INBOUND,
                state=InteractionState.ABANDONED,
                agent_id=nina,
                created_at=moment(1),
                ended_at=moment(1.1),
            ),
        ],
    )
    client = await desk.client_for("nina")
    stats = (await client.get("/api/me/stats")).json()  # at 09:00
    assert stats["handled"] == {"total": 1, "by_channel": {"voice": 1}, "aht_seconds": 600.0}
    assert stats["time_in_state"] == {"not_ready": 600.0 + 1200.0, "ready": 2400.0}
    assert stats["not_ready_by_reason"] == {"lunch": 600.0, "coffee": 1200.0}
    assert stats["breaks"] == {
        "used_seconds": 1800.0,
        "budget_seconds": 900.0,
        "remaining_seconds": 0.0,
        "is_over": True,
    }
    assert stats["team"]["agents_at_work"] == 1
    assert stats["team"]["handled_average"] == 1.0

    # The next day starts from zero: yesterday's open interval counts from midnight.
    desk.clock.advance(16 * 3600)  # 01:00 on the 6th, past the session's lifetime
    client = await desk.client_for("nina")
    stats = (await client.get("/api/me/stats")).json()
    assert stats["day"] == "2026-01-06"
    assert stats["handled"] == {"total": 0, "by_channel": {}, "aht_seconds": None}
    assert stats["time_in_state"] == {"ready": 3600.0}
    assert stats["breaks"]["used_seconds"] == 0.0
    assert stats["breaks"]["is_over"] is False


async def test_my_stats_without_a_team_have_no_budget_and_no_team_average(desk: Desk) -> None:
    olga = await desk.add_user("olga", "Olga")
    client = await desk.client_for("olga")
    await desk.ready(olga)
    desk.advance(90)
    stats = (await client.get("/api/me/stats")).json()
    assert stats["handled"] == {"total": 0, "by_channel": {}, "aht_seconds": None}
    assert stats["time_in_state"] == {"ready": 90.0}
    assert stats["not_ready_by_reason"] == {}
    assert stats["breaks"] == {
        "used_seconds": 0.0,
        "budget_seconds": None,
        "remaining_seconds": None,
        "is_over": False,
    }
    assert stats["team"] is None
    # A supervisor may ask too, about themselves.
    mine = (await desk.supervisor.get("/api/me/stats")).json()
    assert mine["time_in_state"] == {} and mine["team"] is None


async def test_my_stats_need_a_signed_in_user(desk: Desk) -> None:
    response = await desk.api.client.get("/api/me/stats")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# --- GET /api/me/work --------------------------------------------------------------------


async def test_my_work_shows_the_ringing_offer_with_its_screen_pop_then_the_interaction(
    desk: Desk,
) -> None:
    async with desk.transaction() as db:
        queue = await db.get_one(Queue, desk.queue_id)
        queue.disposition_required = True
        contact = Contact(name="Zofia Nowak")
        db.add(contact)
        await db.flush()
        case = Case(subject="Wrong bill", contact_id=contact.id)
        resolved = Disposition(code="resolved", name="Resolved")
        db.add_all([case, resolved])
        await db.flush()
        contact_id, case_id, resolved_id = contact.id, case.id, resolved.id
    await desk.engine.reload_configuration()
    anna = await desk.add_user("anna", "Anna")
    boris = await desk.add_user("boris", "Boris")
    anna_client = await desk.client_for("anna")
    boris_client = await desk.client_for("boris")

    # Not logged in to the engine: nothing rings, nothing is in hand.
    assert (await anna_client.get("/api/me/work")).json() == {"offers": [], "interactions": []}

    await desk.ready(anna)
    desk.advance(5)
    await desk.ready(boris)  # Anna idled longer: the call rings for her
    call = await desk.enqueue(
        "voice",
        contact_id=contact_id,
        case_id=case_id,
        attributes={"caller": "+48221234567", "ivr_choice": "billing"},
    )
    offer_id = desk.offer_for(anna)
    desk.advance(3)

    work = (await anna_client.get("/api/me/work")).json()
    assert work["interactions"] == []
    assert len(work["offers"]) == 1
    offer = work["offers"][0]
    assert offer["offer_id"] == offer_id
    assert _moment(offer["expires_at"]) == START + timedelta(seconds=5 + 30)
    assert offer["interaction"] == {
        "id": call,
        "channel": "voice",
        "direction": "inbound",
        "state": "offered",
        "queue_id": desk.queue_id,
        "queue_name": "Support",
        "disposition_required": True,
        "contact_id": contact_id,
        "case_id": case_id,
        "case_subject": "Wrong bill",
        "case_status": "new",
        "attributes": {"caller": "+48221234567", "ivr_choice": "billing"},
        "created_at": _at(5),
        "answered_at": None,
        "ended_at": None,
        "disposition_id": None,
        "wrap_up_notes": "",
    }
    # The offer is Anna's alone.
    assert (await boris_client.get("/api/me/work")).json() == {"offers": [], "interactions": []}

    assert await desk.engine.accept(anna, offer_id) == call
    work = (await anna_client.get("/api/me/work")).json()
    assert work["offers"] == []
    [active] = work["interactions"]
    assert (active["id"], active["state"], active["answered_at"]) == (call, "active", _at(8))
    assert active["attributes"]["caller"] == "+48221234567"

    desk.advance(60)
    await desk.engine.complete(call)
    await desk.engine.set_disposition(anna, call, resolved_id, "refund issued")
    [wrapping] = (await anna_client.get("/api/me/work")).json()["interactions"]
    assert (wrapping["id"], wrapping["state"], wrapping["ended_at"]) == (call, "wrap_up", _at(68))
    assert (wrapping["disposition_id"], wrapping["wrap_up_notes"]) == (
        resolved_id,
        "refund issued",
    )

    await desk.engine.wrap_up_done(anna)
    assert (await anna_client.get("/api/me/work")).json() == {"offers": [], "interactions": []}


async def test_an_agent_ends_work_through_the_api_with_a_session_older_than_a_minute(
    desk: Desk,
) -> None:
    """The desktop's End button. The request touches the stale session; that write must
    not hold the database while the engine writes the end (on SQLite it once waited
    five seconds for the lock and failed)."""
    anna = await desk.add_user("anna", "Anna")
    anna_client = await desk.client_for("anna")
    await desk.ready(anna)
    chat = await desk.enqueue("chat")
    await desk.take(anna)
    desk.advance(90)  # the session is touched again on the next request
    response = await anna_client.post(f"/api/interactions/{chat}/complete")
    assert response.status_code == 204, response.text
    [wrapping] = (await anna_client.get("/api/me/work")).json()["interactions"]
    assert (wrapping["id"], wrapping["state"]) == (chat, "wrap_up")


async def test_my_work_lists_every_interaction_in_hand_oldest_answer_first(desk: Desk) -> None:
    anna = await desk.add_user("anna", "Anna")
    client = await desk.client_for("anna")
    await desk.ready(anna)
    first = await desk.enqueue("chat", attributes={"visitor": "v-1"})
    await desk.take(anna)
    desk.advance(10)
    second = await desk.enqueue("chat", attributes={"visitor": "v-2"})
    await desk.take(anna)
    work = (await client.get("/api/me/work")).json()
    assert [(item["id"], item["state"]) for item in work["interactions"]] == [
        (first, "active"),
        (second, "active"),
    ]
    # The first ends while the second goes on: wrap-up comes after the last one only.
    await desk.engine.complete(first)
    work = (await client.get("/api/me/work")).json()
    assert [(item["id"], item["state"]) for item in work["interactions"]] == [(second, "active")]
    desk.advance(20)
    await desk.engine.complete(second)
    work = (await client.get("/api/me/work")).json()
    assert [(item["id"], item["state"]) for item in work["interactions"]] == [(second, "wrap_up")]


async def test_a_wrap_up_left_when_the_agent_went_offline_is_not_work_in_hand_again(
    desk: Desk,
) -> None:
    anna = await desk.add_user("anna", "Anna")
    client = await desk.client_for("anna")
    await desk.ready(anna)
    left = await desk.enqueue("voice")
    await desk.take(anna)
    desk.advance(30)
    await desk.engine.complete(left)
    assert [item["id"] for item in (await client.get("/api/me/work")).json()["interactions"]] == [
        left
    ]
    await desk.engine.logout(anna)
    async with desk.transaction() as db:
        assert (await db.get_one(Interaction, left)).state is InteractionState.WRAP_UP
    assert (await client.get("/api/me/work")).json()["interactions"] == []

    desk.advance(600)
    await desk.ready(anna)
    assert (await client.get("/api/me/work")).json()["interactions"] == []
    # Work of the new session shows as usual.
    fresh = await desk.enqueue("voice")
    await desk.take(anna)
    desk.advance(30)
    await desk.engine.complete(fresh)
    [item] = (await client.get("/api/me/work")).json()["interactions"]
    assert (item["id"], item["state"]) == (fresh, "wrap_up")


# --- GET /api/contacts/{id}/interactions -------------------------------------------------


async def test_contact_history_is_newest_first_across_channels_with_names(desk: Desk) -> None:
    anna = await desk.add_user("anna", "Anna Kowalska")
    boris = await desk.add_user("boris", "Boris Nowak")
    [zofia, other] = await _add(desk, [Contact(name="Zofia"), Contact(name="Someone else")])
    async with desk.transaction() as db:
        sales = Queue(name="Sales", channels=["email"])
        db.add(sales)
        await db.flush()
        resolved = Disposition(code="resolved", name="Resolved")
        callback = Disposition(code="callback", name="Call back", queue_id=sales.id)
        db.add_all([resolved, callback])
        await db.flush()
        sales_id, resolved_id, callback_id = sales.id, resolved.id, callback.id

    def moment(hours: float) -> datetime:
        return START - timedelta(hours=hours)

    [email, chat, same_time_call, _elsewhere] = await _add(
        desk,
        [
            Interaction(
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                queue_id=sales_id,
                agent_id=boris,
                contact_id=zofia,
                created_at=moment(48),
                answered_at=moment(47),
                ended_at=moment(46),
                disposition_id=callback_id,
                wrap_up_notes="asked for a call on Monday",
            ),
            Interaction(
                channel=Channel.CHAT,
                direction=Direction.INBOUND,
                state=InteractionState.ABANDONED,
                queue_id=desk.queue_id,
                contact_id=zofia,
                created_at=moment(24),
                ended_at=moment(23.9),
            ),
            Interaction(
                channel=Channel.VOICE,
                direction=Direction.OUTBOUND,
                state=InteractionState.ENDED,
                agent_id=anna,
                contact_id=zofia,
                created_at=moment(24),  # the same moment: the later row is newer
                answered_at=moment(23.95),
                ended_at=moment(23.5),
            ),
            Interaction(
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                queue_id=desk.queue_id,
                contact_id=other,
                created_at=moment(1),
            ),
        ],
    )
    # The newest goes through the engine: Anna takes Zofia's call and gives it a result.
    await desk.ready(anna)
    call = await desk.enqueue("voice", contact_id=zofia)
    await desk.take(anna, ring_seconds=4)
    desk.advance(100)
    await desk.engine.complete(call)
    await desk.engine.set_disposition(anna, call, resolved_id, "sorted")
    await desk.engine.wrap_up_done(anna)

    client = await desk.client_for("anna")
    response = await client.get(f"/api/contacts/{zofia}/interactions")
    assert response.status_code == 200, response.text
    history = response.json()
    assert [entry["id"] for entry in history] == [call, same_time_call, chat, email]
    assert [entry["channel"] for entry in history] == ["voice", "voice", "chat", "email"]
    assert history[0] == {
        "id": call,
        "channel": "voice",
        "direction": "inbound",
        "state": "ended",
        "queue_id": desk.queue_id,
        "queue_name": "Support",
        "agent_id": anna,
        "agent_name": "Anna Kowalska",
        "case_id": None,
        "created_at": _at(0),
        "answered_at": _at(4),
        "ended_at": _at(104),
        "disposition_id": resolved_id,
        "disposition_name": "Resolved",
        "wrap_up_notes": "sorted",
        "recordings": [],
        "voicemail": None,
        "csat_rating": None,
        "csat_comment": "",
    }
    by_id = {entry["id"]: entry for entry in history}
    assert (by_id[email]["queue_name"], by_id[email]["agent_name"]) == ("Sales", "Boris Nowak")
    assert (by_id[email]["disposition_name"], by_id[email]["wrap_up_notes"]) == (
        "Call back",
        "asked for a call on Monday",
    )
    # No agent, no disposition, no queue: names are null, not missing.
    assert (by_id[chat]["agent_id"], by_id[chat]["agent_name"]) == (None, None)
    assert (by_id[chat]["disposition_id"], by_id[chat]["disposition_name"]) == (None, None)
    assert (by_id[same_time_call]["queue_id"], by_id[same_time_call]["queue_name"]) == (
        None,
        None,
    )
    assert by_id[same_time_call]["direction"] == "outbound"

    limited = (await client.get(f"/api/contacts/{zofia}/interactions?limit=2")).json()
    assert [entry["id"] for entry in limited] == [call, same_time_call]
    assert (await client.get(f"/api/contacts/{other}/interactions")).json()[0]["queue_name"] == (
        "Support"
    )


async def test_contact_history_of_an_unknown_contact_is_404_and_limits_are_checked(
    desk: Desk,
) -> None:
    [lonely] = await _add(desk, [Contact(name="Nobody called")])
    assert (await desk.supervisor.get(f"/api/contacts/{lonely}/interactions")).json() == []
    missing = await desk.supervisor.get("/api/contacts/999999/interactions")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "query.limit" in fields(
        await desk.supervisor.get(f"/api/contacts/{lonely}/interactions?limit=0")
    )
    assert "query.limit" in fields(
        await desk.supervisor.get(f"/api/contacts/{lonely}/interactions?limit=201")
    )
    anonymous = await desk.api.client.get(f"/api/contacts/{lonely}/interactions")
    assert anonymous.status_code == 401


# --- GET /api/directory ------------------------------------------------------------------


async def test_directory_shows_active_users_with_team_and_live_state(desk: Desk) -> None:
    alpha = await _team(desk, "Alpha")
    anna = await desk.add_user("anna", "Anna", team_id=alpha)
    boris = await desk.add_user("boris", "Boris", team_id=alpha)
    carl = await desk.add_user("carl", "Carl")
    await desk.add_user("adam", "adam nowak")  # lower case sorts among the A's
    await desk.add_user("gone", "Gone Away", is_active=False)
    ada = await desk.add_user("ada", "Ada Admin", role=Role.ADMIN)
    await desk.engine.login(anna)  # not ready: login
    desk.advance(7)
    await desk.ready(boris)
    desk.advance(3)
    call = await desk.enqueue("voice")
    assert await desk.take(boris) == call

    client = await desk.client_for("carl")
    response = await client.get("/api/directory")
    assert response.status_code == 200, response.text
    people = response.json()
    assert [person["display_name"] for person in people] == [
        "Ada Admin",
        "adam nowak",
        "Anna",
        "Boris",
        "Carl",
        "Sam Supervisor",
    ]
    by_name = {person["display_name"]: person for person in people}
    assert by_name["Anna"] == {
        "id": anna,
        "display_name": "Anna",
        "role": "agent",
        "team_id": alpha,
        "team_name": "Alpha",
        "state": "not_ready",
        "reason": "login",
        "since": _at(0),
        "is_me": False,
    }
    assert (by_name["Boris"]["state"], by_name["Boris"]["reason"]) == ("busy", None)
    assert by_name["Boris"]["since"] == _at(10)
    assert by_name["Carl"] == {
        "id": carl,
        "display_name": "Carl",
        "role": "agent",
        "team_id": None,
        "team_name": None,
        "state": "offline",
        "reason": None,
        "since": None,
        "is_me": True,
    }
    assert (by_name["Ada Admin"]["id"], by_name["Ada Admin"]["role"]) == (ada, "admin")
    assert by_name["Ada Admin"]["state"] == "offline"
    assert by_name["Sam Supervisor"]["role"] == "supervisor"
    assert [person["display_name"] for person in people if person["is_me"]] == ["Carl"]

    # Logging out is offline again, with no reason or time of the last state.
    await desk.engine.logout(anna)
    anna_now = next(p for p in (await client.get("/api/directory")).json() if p["id"] == anna)
    assert (anna_now["state"], anna_now["reason"], anna_now["since"]) == ("offline", None, None)
    assert (await desk.api.client.get("/api/directory")).status_code == 401


# --- PUT /api/me/language ----------------------------------------------------------------


async def test_changing_my_language_is_stored_audited_and_set_in_a_cookie(desk: Desk) -> None:
    anna = await desk.add_user("anna", "Anna")
    client = await desk.client_for("anna")
    before = [row.id for row in await audit_rows(desk.api, "user")]

    response = await client.put("/api/me/language", json={"language": "pl"})
    assert response.status_code == 200, response.text
    assert response.json() == {"language": "pl"}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("parley_lang=pl;")
    assert "Path=/" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=31536000" in cookie
    assert "Secure" not in cookie  # cookie_secure is off in tests
    async with desk.transaction() as db:
        assert (await db.get_one(User, anna)).language == "pl"
    assert (await client.get("/api/auth/me")).json()["language"] == "pl"

    [row] = [row for row in await audit_rows(desk.api, "user") if row.id not in before]
    assert (row.action, row.entity_id, row.actor_user_id, row.actor_label) == (
        "update",
        str(anna),
        anna,
        "anna",
    )
    assert row.changes == {"language": {"old": "en", "new": "pl"}}

    # The same language again: the cookie is set, but nothing changed to audit.
    again = await client.put("/api/me/language", json={"language": "pl"})
    assert again.status_code == 200
    assert again.cookies.get("parley_lang") == "pl"
    assert len([r for r in await audit_rows(desk.api, "user") if r.id not in before]) == 1

    back = await client.put("/api/me/language", json={"language": "ru"})
    assert back.status_code == 200
    async with desk.transaction() as db:
        assert (await db.get_one(User, anna)).language == "ru"
        rows = await db.scalars(select(User.language).where(User.username == "sam"))
        assert list(rows) == ["en"]  # nobody else's language moved


async def test_an_unknown_language_is_422_and_changes_nothing(desk: Desk) -> None:
    anna = await desk.add_user("anna", "Anna")
    client = await desk.client_for("anna")
    before = len(await audit_rows(desk.api, "user"))
    for body in ({"language": "de"}, {"language": ""}, {}, {"language": "pl", "theme": "dark"}):
        response = await client.put("/api/me/language", json=body)
        assert response.status_code == 422, (body, response.text)
        assert "set-cookie" not in response.headers
    assert "language" in fields(await client.put("/api/me/language", json={"language": "de"}))
    async with desk.transaction() as db:
        assert (await db.get_one(User, anna)).language == "en"
    assert len(await audit_rows(desk.api, "user")) == before


async def test_changing_my_language_needs_a_session_and_its_csrf_token(desk: Desk) -> None:
    await desk.add_user("anna", "Anna")
    client = await desk.client_for("anna")
    del client.headers["X-CSRF-Token"]
    refused = await client.put("/api/me/language", json={"language": "pl"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    anonymous = await desk.api.client.put("/api/me/language", json={"language": "pl"})
    assert anonymous.status_code == 401
