"""Queue announcements on a real Asterisk (F-VO-1, F-RT-7): callers holding in a queue
that announces hear their position and estimated wait, and keep their place."""

from __future__ import annotations

from datetime import timedelta

from parley.platform.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    QueueVoiceSettings,
    Role,
    User,
)
from parley.telephony.announcements import Announcer
from tests.integration.telephony.ami_tap import AmiTap
from tests.integration.telephony.conftest import ANSWERS, Center, until


async def _announcing_queue_with_history(center: Center) -> None:
    """Announcements every 2 s; one call of 2 minutes handled by one agent lately."""
    now = center.runtime.clock.now()
    async with center.runtime.database.transaction() as db:
        db.add(QueueVoiceSettings(queue_id=center.queue_id, announce_every_seconds=2))
        earlier = User(username="earlier", display_name="E", password_hash="x", role=Role.AGENT)
        db.add(earlier)
        await db.flush()
        db.add(
            Interaction(
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                queue_id=center.queue_id,
                agent_id=earlier.id,
                queued_at=now - timedelta(minutes=10),
                answered_at=now - timedelta(minutes=9),
                ended_at=now - timedelta(minutes=7),
            )
        )


def _caller_channel(center: Center, interaction_id: int) -> str:
    tracked = center.voice.call_of(interaction_id)
    assert tracked is not None
    return center.ami.calls.channels[tracked[0]].name


async def test_holding_callers_hear_position_and_wait_and_are_answered_after(
    center: Center,
) -> None:
    await _announcing_queue_with_history(center)
    tap = AmiTap(center.asterisk.endpoint)
    await tap.start()
    announcer = Announcer(center.runtime, center.voice, interval=0.2)
    await announcer.start()
    try:
        await center.call(caller="+48221234567")
        await until(lambda: len(center.voice.waiting_calls()) == 1)
        await center.call(caller="+48221234568")
        await until(lambda: len(center.voice.waiting_calls()) == 2)
        first, second = sorted(call.interaction_id for call in center.voice.waiting_calls())
        first_channel = _caller_channel(center, first)
        second_channel = _caller_channel(center, second)

        # Second in line: "there are 2 calls waiting", 2 x 120 s by one agent = 4 minutes.
        await until(lambda: "4" in tap.played(second_channel, "SayNumber"), 30)
        assert tap.played(second_channel, "SayNumber")[:2] == ["2", "4"]
        assert "queue-holdtime" in tap.played(second_channel, "Playback")
        # First in line: "you are next", about 2 minutes.
        await until(lambda: "queue-youarenext" in tap.played(first_channel, "Playback"), 30)
        assert "2" in tap.played(first_channel, "SayNumber")
        # Announced twice at least: back to hold in between, still waiting in the queue.
        await until(lambda: tap.played(first_channel, "Playback").count("queue-thankyou") >= 2)
        assert center.phase(first) == "waiting"
        assert center.engine.estimate(first).position == 1

        agent_id = await center.agent("anna", ANSWERS)
        interaction_id = await center.engine.accept(agent_id, await center.offer_for(agent_id))
        assert interaction_id == first
        await until(lambda: center.phase(first) == "talking")
        assert center.phase(second) == "waiting"
        # The second caller moved up: now first in line.
        await until(lambda: "queue-youarenext" in tap.played(second_channel, "Playback"), 30)
    finally:
        await announcer.stop()
        tap.close()


async def test_queues_without_announcements_keep_their_callers_on_plain_hold(
    center: Center,
) -> None:
    tap = AmiTap(center.asterisk.endpoint)
    await tap.start()
    announcer = Announcer(center.runtime, center.voice, interval=0.2)
    await announcer.start()
    try:
        await center.call()
        await until(lambda: len(center.voice.waiting_calls()) == 1)
        (waiting,) = center.voice.waiting_calls()
        interaction_id = waiting.interaction_id
        channel = _caller_channel(center, interaction_id)
        assert await announcer.refresh() == 0
        await until(lambda: bool(tap.played(channel, "Wait")))
        assert tap.played(channel, "Wait") == ["3600"]
        assert not tap.played(channel, "SayNumber")
    finally:
        await announcer.stop()
        tap.close()
