"""Inbound calls through Parley's router (ARCHITECTURE.md §7; F-VO-1, -2, -7, -9).

Asterisk answers a call in `parley-inbound` and asks Parley over FastAGI what to do with
it. Parley refuses blocked callers, finds the queue of the dialled number and the caller's
contact, and queues an Interaction through the engine, the same router chats and emails
go through; the call then waits in `parley-hold`. The rest follows from the engine's
events and Asterisk's:

- `interaction.assigned` (an agent accepted the offer on the desktop): AMI sets the
  agent's dial string on the caller's channel and redirects it to `parley-agent`, which
  rings that device;
- the caller's channel enters a bridge: the call is answered (`call.answered`);
- the caller comes back to `parley-hold` (the device did not answer, was busy or is
  unreachable): `Engine.unanswered` returns the call to its queue for someone else;
- the caller hangs up while waiting: the interaction is abandoned and, when the queue
  takes callbacks, a callback task to the caller's number is queued (lost calls, F-VO-7);
  hung up once connected: the interaction completes and the agent goes to wrap-up.

After hours, a queue whose after-hours action is "voicemail" has the caller leave a
message (Asterisk's Record into the data directory); it becomes a callback task with the
recording, waiting in the queue for the first agent back (F-VO-8).

Calls the agent dials (click to call, F-VO-4) are the agent's interaction at once
(`Engine.start_outbound`): AMI originates the agent's device first and, once answered,
dials the customer from `parley-outbound`.

Calls are tracked by a channel's uniqueid (the caller's, kept in the interaction's
attributes; for a call the agent dialled, the agent's leg, named after the interaction),
so a restart of Parley finds them again; whenever the AMI connector (re)connects, calls
whose channel is gone are ended, so an Asterisk restart leaves no agent stuck busy.
Call control on top of this is `control.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import structlog
from panoramisk.fast_agi import Request
from sqlalchemy import select

from parley.platform.admin_api.identities import normalize_phone
from parley.platform.bus import Event
from parley.platform.engine import EnqueueRequest
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import (
    BlockedCaller,
    Channel,
    ContactIdentity,
    Direction,
    Interaction,
    InteractionState,
    IvrMenu,
    VoiceNumber,
)
from parley.platform.models import Queue as QueueRow
from parley.platform.routing import QueueClosed, QueueFull
from parley.platform.runtime import Runtime
from parley.telephony.ami import AmiConnector, AmiEndpoint, AmiError
from parley.telephony.announcements import hold_variables
from parley.telephony.calls import CallChange, ChannelChange
from parley.telephony.calls import Channel as LiveChannel
from parley.telephony.forwarding import agent_device
from parley.telephony.ivr import DIGITS, Menu, Step, next_step
from parley.telephony.media import (
    BROWSER_DEVICE,
    audiosocket_dial_string,
    line_uuid,
)
from parley.telephony.retention import recordings_dir

log = structlog.get_logger(__name__)

HOLD_CONTEXT = "parley-hold"
AGENT_CONTEXT = "parley-agent"
AGI_SCRIPT = "inbound"
_AGI_HEADER_LIMIT = 16 * 1024
_AGI_HEADER_TIMEOUT = 5.0
# A dial string Parley hands to Dial(): one technology/resource, nothing Dial would read
# as options or as a second device (no `,`, `&`, `(`, `$`).
_DIAL_STRING = re.compile(r"(PJSIP|SIP|IAX2|Local|DAHDI)/[A-Za-z0-9@._+#*-]{1,180}(/n)?")
_E164 = re.compile(r"\+[1-9][0-9]{3,14}")
_GATEWAY = re.compile(r"(?P<host>[A-Za-z0-9.-]{1,253}):(?P<port>[0-9]{1,5})")  # host:port
_MAX_MENUS = 10  # menus one call may pass through
_WAV_HEADER = 44

Phase = Literal["waiting", "connecting", "talking", "held"]


def parse_ami_url(url: str) -> AmiEndpoint:
    """`ami://user:secret@host:port` (port 5038 when left out)."""
    parts = urlsplit(url)
    if parts.scheme != "ami" or not parts.hostname or not parts.username or not parts.password:
        raise ValueError("the AMI URL reads ami://user:secret@host:port")
    return AmiEndpoint(
        parts.hostname, parts.port or 5038, unquote(parts.username), unquote(parts.password)
    )


def caller_number(raw: str, default_region: str) -> str:
    """The caller's number in E.164 when it reads as one, else as Asterisk gave it
    (an extension, `anonymous`); "" when there is none."""
    text = raw.strip()
    if not text or text.lower() in {"unknown", "anonymous", "restricted"}:
        return ""
    try:
        return normalize_phone(text, default_region)
    except ValueError:
        return text


def is_blocked(number: str, patterns: list[str]) -> bool:
    """Whether `number` matches one of the blocklist's patterns (`*`: any digits)."""
    if not number:
        return False
    return any(fnmatch.fnmatchcase(number, pattern) for pattern in patterns)


def dial_string(device: str) -> str | None:
    """What Dial() rings for an agent's device: a channel as it is, an E.164 number
    through the outbound context; None for anything else (refused, not guessed)."""
    device = device.strip()
    if _DIAL_STRING.fullmatch(device):
        return device
    if _E164.fullmatch(device):
        return f"Local/{device}@parley-outbound"
    return None


@dataclass(frozen=True)
class _Voicemail:
    """A caller leaving a message after hours: where it is recorded, and the request
    that queues it once they hang up."""

    queue_id: int
    recording: Path  # without the extension, as Asterisk's Record wants it
    request: EnqueueRequest


@dataclass(frozen=True)
class CallView:
    """A call as supervisors see it."""

    interaction_id: int
    phase: Phase
    agent_id: int | None
    queue_id: int | None
    caller: str
    is_outbound: bool


@dataclass
class _Call:
    interaction_id: int
    uniqueid: str
    phase: Phase = "waiting"
    agent_id: int | None = None
    queue_id: int | None = None
    caller: str = ""
    contact_id: int | None = None
    accepted_at: float | None = None  # monotonic, for the ring latency
    redirected: bool = False  # seen in the agent context since the last accept
    # The other party's leg once bridged: the agent's for a call that came in, the
    # customer's for one the agent dialled (then `uniqueid` is the agent's own leg).
    partner_uniqueid: str | None = None
    is_outbound: bool = False


class VoiceService:
    """Parley's telephony role for inbound calls: FastAGI server, AMI connector, and the
    glue between Asterisk's calls and the engine's interactions."""

    def __init__(
        self,
        runtime: Runtime,
        connector: AmiConnector,
        *,
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        ring_seconds: int = 20,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._engine = runtime.require_engine()
        self.connector = connector
        self.agi_host = agi_host
        self.agi_port = agi_port
        self.ring_seconds = ring_seconds
        self._monotonic = monotonic
        self._calls: dict[str, _Call] = {}  # by the caller channel's uniqueid
        self._by_interaction: dict[int, _Call] = {}
        self._changes: asyncio.Queue[CallChange] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._agi_tasks: set[asyncio.Task[None]] = set()
        # Seconds from an accepted offer to the agent's device ringing, newest last.
        self.ring_latencies: list[float] = []
        self._voicemails: dict[str, _Voicemail] = {}  # by the caller channel's uniqueid
        # Asterisk writes the recordings here: the same directory for both (embedded),
        # or a shared volume (the scaled stack).
        self._voicemail_dir = runtime.settings.data_dir.resolve() / "voicemail"
        self.recordings_dir = recordings_dir(runtime.settings)
        # Calls whose queue's recording runs (started at the answer), for call control.
        self.recorded_by_queue: set[int] = set()
        # Agents whose browser line is connected, and the AudioSocket address of the
        # media gateway holding it (`line.status` events: it may be another process).
        self.browser_lines: dict[int, tuple[str, int]] = {}
        self._line_secret = runtime.settings.resolved_secret_key()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self._load_calls()
        assignments = self._runtime.bus.subscribe("interaction.assigned")
        lines = self._runtime.bus.subscribe("line.status")
        self.connector.add_listener(self._changes.put_nowait)
        self._server = await asyncio.start_server(
            self._agi_connection, self.agi_host, self.agi_port, limit=_AGI_HEADER_LIMIT
        )
        self._tasks = [
            asyncio.create_task(self._follow_assignments(assignments), name="voice-assign"),
            asyncio.create_task(self._follow_calls(), name="voice-calls"),
            asyncio.create_task(self._follow_connections(), name="voice-reconcile"),
            asyncio.create_task(self._follow_lines(lines), name="voice-lines"),
        ]
        await self.connector.start()
        log.info(
            "voice.started", fastagi=f"{self.agi_host}:{self.agi_port}", calls=len(self._calls)
        )

    async def stop(self) -> None:
        await self.connector.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        tasks = [*self._tasks, *self._agi_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def readiness(self) -> str | None:
        """None when calls can flow: AMI connected and the FastAGI server listening."""
        if self._server is None:
            return "FastAGI server not listening"
        return self.connector.not_ready_reason

    def call_of(self, interaction_id: int) -> tuple[str, Phase] | None:
        """The caller channel's uniqueid and the call's phase, while Parley tracks it."""
        call = self._by_interaction.get(interaction_id)
        return (call.uniqueid, call.phase) if call else None

    def legs(self, interaction_id: int) -> tuple[LiveChannel, LiveChannel | None]:
        """The customer's live channel and the agent's (None when gone) of a call in
        progress; NotFound when Parley tracks no such call, Conflict when it is not
        connected (still waiting or ringing)."""
        call = self._by_interaction.get(interaction_id)
        live = self.connector.calls.channels
        caller = live.get(call.uniqueid) if call else None
        if call is None or caller is None:
            raise NotFound("Call", interaction_id)
        if call.phase not in ("talking", "held"):
            raise Conflict("call_not_connected", f"Call {interaction_id} is not connected.")
        partner = live.get(call.partner_uniqueid) if call.partner_uniqueid else None
        if call.is_outbound:
            if partner is None:
                raise Conflict("call_not_connected", f"Call {interaction_id} is not connected.")
            return partner, caller
        return caller, partner

    def tracked_channel(self, interaction_id: int) -> LiveChannel:
        """The channel Parley follows for the call, in any phase: the caller's for a call
        that came in, the agent's own leg for one they dialled."""
        call = self._by_interaction.get(interaction_id)
        live = self.connector.calls.channels.get(call.uniqueid) if call else None
        if live is None:
            raise NotFound("Call", interaction_id)
        return live

    def calls(self) -> list[CallView]:
        """Every call Parley follows now (waiting, ringing an agent, connected), for
        supervisors."""
        return [
            CallView(c.interaction_id, c.phase, c.agent_id, c.queue_id, c.caller, c.is_outbound)
            for c in self._by_interaction.values()
            if c.interaction_id
        ]

    def waiting_calls(self) -> list[CallView]:
        """The inbound calls waiting for an agent."""
        return [c for c in self.calls() if c.phase == "waiting" and not c.is_outbound]

    def agent_dial_string(self, user_id: int, device: str) -> str | None:
        """What Dial() rings for a user's device: a browser's line through the media
        gateway (a fresh uuid naming the user, `media.addressing`) while it is connected,
        else `dial_string`."""
        if device.strip() != BROWSER_DEVICE:
            return dial_string(device)
        gateway = self.browser_lines.get(user_id)
        if gateway is None:
            return None
        host, port = gateway
        return audiosocket_dial_string(host, port, line_uuid(self._line_secret, user_id))

    async def _follow_lines(self, lines: Any) -> None:
        async with lines:
            async for event in lines:
                agent_id, status = event.payload.get("agent_id"), event.payload.get("status")
                gateway = _GATEWAY.fullmatch(str(event.payload.get("gateway", "")))
                if status == "connected" and gateway is not None:
                    self.browser_lines[agent_id] = (gateway["host"], int(gateway["port"]))
                else:
                    self.browser_lines.pop(agent_id, None)

    def agent_of(self, interaction_id: int) -> int | None:
        call = self._by_interaction.get(interaction_id)
        return call.agent_id if call else None

    def queue_of(self, interaction_id: int) -> int | None:
        call = self._by_interaction.get(interaction_id)
        return call.queue_id if call else None

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def set_held(self, interaction_id: int, held: bool) -> None:
        call = self._by_interaction[interaction_id]
        call.phase = "held" if held else "talking"

    async def release(self, interaction_id: int) -> None:
        """The call left Parley's hands (transferred to an outside number): its
        interaction completes for the agent and Parley stops following the channel."""
        call = self._by_interaction.get(interaction_id)
        if call is None:
            raise NotFound("Call", interaction_id)
        try:
            await self._complete(call)
        finally:
            self._forget(call)  # tracked until the engine has been told

    async def requeue(
        self, interaction_id: int, queue_id: int, *, preferred_agent_id: int | None = None
    ) -> int:
        """Blind transfer to a queue: a new interaction for the same caller waits in
        `queue_id` (the caller goes back to hold), the agent's one completes. Returns the
        new interaction's id; QueueClosed / QueueFull / NotFound leave the call as it was.
        With `preferred_agent_id` (a transfer to an agent) the router offers it to that
        agent first."""
        call = self._by_interaction.get(interaction_id)
        live = self.connector.calls.channels.get(call.uniqueid) if call else None
        if call is None or live is None:
            raise NotFound("Call", interaction_id)
        async with self._runtime.database.sessions() as db:
            old = await db.get_one(Interaction, interaction_id)
            attributes = {**old.attributes, "transferred_from": interaction_id}
            contact_id, case_id = old.contact_id, old.case_id
        new_id = await self._engine.enqueue(
            EnqueueRequest(
                channel=Channel.VOICE,
                queue_id=queue_id,
                contact_id=contact_id,
                case_id=case_id,
                external_ref=f"asterisk:{call.uniqueid}",
                attributes=attributes,
                preferred_agent_id=preferred_agent_id,
            )
        )
        self._forget(call)
        successor = _Call(
            new_id, call.uniqueid, queue_id=queue_id, caller=call.caller, contact_id=contact_id
        )
        self._track(successor)
        await self.connector.send(
            {
                "Action": "Redirect",
                "Channel": live.name,
                "Context": HOLD_CONTEXT,
                "Exten": "s",
                "Priority": "1",
            }
        )
        await self._complete(call)
        return new_id

    async def _load_calls(self) -> None:
        """Calls a previous run was handling: their interactions say which channel."""
        async with self._runtime.database.sessions() as db:
            rows = await db.scalars(
                select(Interaction).where(
                    Interaction.channel == Channel.VOICE,
                    Interaction.state.in_(
                        (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ACTIVE)
                    ),
                )
            )
            for row in rows:
                is_outbound = row.direction is Direction.OUTBOUND
                uniqueid = _outbound_id(row.id) if is_outbound else row.attributes.get("uniqueid")
                if not uniqueid:
                    continue
                phase: Phase = "talking" if row.state is InteractionState.ACTIVE else "waiting"
                self._track(
                    _Call(
                        row.id,
                        uniqueid,
                        phase,
                        agent_id=row.agent_id,
                        queue_id=row.queue_id,
                        caller=row.attributes.get("caller_number", ""),
                        contact_id=row.contact_id,
                        is_outbound=is_outbound,
                    )
                )

    def _track(self, call: _Call) -> None:
        self._calls[call.uniqueid] = call
        self._by_interaction[call.interaction_id] = call

    def _forget(self, call: _Call) -> None:
        self._calls.pop(call.uniqueid, None)
        self._by_interaction.pop(call.interaction_id, None)
        self.recorded_by_queue.discard(call.interaction_id)

    async def call_out(
        self,
        agent_id: int,
        number: str,
        *,
        queue_id: int | None = None,
        contact_id: int | None = None,
        context: str = "parley-outbound",
    ) -> int:
        """Click to call (F-VO-4): the agent's device rings first; once they answer,
        Asterisk dials `number` from `context` with the queue's caller ID (its first
        dialled number in E.164). Returns the interaction, which is the agent's at once."""
        async with self._runtime.database.sessions() as db:
            device = await agent_device(db, agent_id)
            caller_id = ""
            if queue_id is not None:
                numbers = await db.scalars(
                    select(VoiceNumber.number)
                    .where(VoiceNumber.queue_id == queue_id, VoiceNumber.is_active)
                    .order_by(VoiceNumber.id)
                )
                caller_id = next((n for n in numbers if n.startswith("+")), "")
        target = self.agent_dial_string(agent_id, device or "")
        if target is None and device == BROWSER_DEVICE:
            raise Conflict("line_not_connected", "Connect the browser line to call from it.")
        if target is None:
            raise DomainError("no_device", "Set a phone (device) to call from.")
        if not self.connector.is_ready:
            raise Conflict("voice_unavailable", "Asterisk is not connected.")
        interaction_id = await self._engine.start_outbound(
            agent_id,
            EnqueueRequest(
                channel=Channel.VOICE,
                queue_id=queue_id or 0,
                direction=Direction.OUTBOUND,
                contact_id=contact_id,
                attributes={"caller_number": number, "dialled_number": number},
            ),
        )
        uniqueid = _outbound_id(interaction_id)
        call = _Call(
            interaction_id,
            uniqueid,
            "connecting",
            agent_id=agent_id,
            queue_id=queue_id,
            caller=number,
            contact_id=contact_id,
            is_outbound=True,
        )
        self._track(call)
        action = {
            "Action": "Originate",
            "Channel": target,
            "Context": context,
            "Exten": number,
            "Priority": "1",
            "Timeout": str(self.ring_seconds * 1000),
            "ChannelId": uniqueid,
            "OtherChannelId": f"{uniqueid}-2",
            "Variable": f"PARLEY_INTERACTION={interaction_id}",
            "Async": "true",
        }
        if caller_id:
            action["CallerID"] = caller_id
        try:
            await self.connector.send(action, only_response=True)
        except (AmiError, TimeoutError) as exc:
            log.warning("voice.call_out_failed", interaction_id=interaction_id, reason=str(exc))
            await self._ended(call)
        log.info("voice.calling_out", interaction_id=interaction_id, agent_id=agent_id)
        return interaction_id

    # --- FastAGI: a new call asks what to do ---------------------------------------------

    async def _agi_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._agi_tasks.add(task)
        try:
            try:
                async with asyncio.timeout(_AGI_HEADER_TIMEOUT):
                    block = await reader.readuntil(b"\n\n")
                headers = _agi_headers(block.decode("utf-8"))
            except (
                TimeoutError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                UnicodeDecodeError,
                ValueError,
            ) as exc:
                log.warning("fastagi.bad_request", reason=type(exc).__name__)
                return
            script = headers.get("agi_network_script", "")
            if script != AGI_SCRIPT:
                log.warning("fastagi.unknown_script", script=script[:100])
                return
            await self._inbound(Request(None, headers, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, CallerGone):
            log.info("fastagi.caller_gone")
        except Exception:
            log.exception("fastagi.failed")
        finally:
            writer.close()
            if task is not None:
                self._agi_tasks.discard(task)

    async def _inbound(self, request: Request) -> None:
        headers = request.headers
        uniqueid = headers.get("agi_uniqueid", "")
        channel = headers.get("agi_channel", "")
        if not uniqueid or not channel:
            log.warning("fastagi.no_channel")
            return
        region = self._runtime.settings.default_phone_region
        caller = caller_number(headers.get("agi_callerid", ""), region)
        caller_name = headers.get("agi_calleridname", "")
        if caller_name.lower() in {"unknown", caller.lower()}:
            caller_name = ""
        dialled = headers.get("agi_extension", "")
        action, variables = await self._admit(
            request, uniqueid, channel, caller, caller_name, dialled
        )
        for name, value in variables.items():
            await request.send_command(f"SET VARIABLE {name} {value}")
        await request.send_command(f"SET VARIABLE PARLEY_ACTION {action}")

    async def _admit(
        self,
        request: Request,
        uniqueid: str,
        channel: str,
        caller: str,
        caller_name: str,
        dialled: str,
    ) -> tuple[str, dict[str, str]]:
        """What the dialplan does with a new call ("queued", "blocked", "unrouted",
        "hangup", "closed", "full", "voicemail") and the channel variables it needs (the
        interaction queued, the file a voicemail is recorded into)."""
        where = {"uniqueid": uniqueid, "dialled": dialled}
        region = self._runtime.settings.default_phone_region
        async with self._runtime.database.sessions() as db:
            patterns = list(
                await db.scalars(select(BlockedCaller.pattern).where(BlockedCaller.is_active))
            )
            if is_blocked(caller, patterns):
                log.info("voice.blocked_caller", **where)
                return "blocked", {}
            candidates = {dialled}
            with contextlib.suppress(ValueError):
                candidates.add(normalize_phone(dialled, region))
            number = await db.scalar(
                select(VoiceNumber)
                .where(VoiceNumber.number.in_(candidates), VoiceNumber.is_active)
                .limit(1)
            )
            if number is None:
                log.warning("voice.unrouted_number", **where)
                return "unrouted", {}
            contact_id = None
            if caller.startswith("+"):
                contact_id = await db.scalar(
                    select(ContactIdentity.contact_id).where(
                        ContactIdentity.kind == "phone", ContactIdentity.value == caller
                    )
                )
            queue_id, number_name, menu_id = number.queue_id, number.name, number.ivr_menu_id
        ivr_path: list[str] = []
        if menu_id is not None:
            routed = await self._run_menus(request, menu_id, ivr_path)
            if routed is None:
                return "hangup", {}
            queue_id = routed or queue_id
        enqueue = EnqueueRequest(
            channel=Channel.VOICE,
            queue_id=queue_id,
            contact_id=contact_id,
            external_ref=f"asterisk:{uniqueid}",
            attributes={
                "uniqueid": uniqueid,
                "channel": channel,
                "caller_number": caller,
                "name": caller_name,
                "dialled_number": dialled,
                "number_name": number_name,
                "ivr_path": ivr_path,
            },
        )
        call = _Call(0, uniqueid, queue_id=queue_id, caller=caller, contact_id=contact_id)
        self._calls[uniqueid] = call  # hangups from now on find it
        try:
            call.interaction_id = await self._engine.enqueue(enqueue)
        except QueueClosed as closed:
            self._calls.pop(uniqueid, None)
            if closed.action != "voicemail":
                return "closed", {}
            recording = self._voicemail_dir / f"voicemail-{_file_safe(uniqueid)}"
            self._voicemail_dir.mkdir(parents=True, exist_ok=True)
            self._voicemails[uniqueid] = _Voicemail(queue_id, recording, enqueue)
            log.info("voice.voicemail_recording", queue_id=queue_id, **where)
            return "voicemail", {"PARLEY_VOICEMAIL": str(recording)}
        except QueueFull:
            self._calls.pop(uniqueid, None)
            return "full", {}
        except NotFound:
            # A menu option names a queue that is gone: configuration, not the caller.
            self._calls.pop(uniqueid, None)
            log.error("voice.queue_missing", queue_id=queue_id, **where)
            return "unrouted", {}
        except BaseException:
            self._calls.pop(uniqueid, None)
            raise
        self._track(call)
        log.info("voice.queued", interaction_id=call.interaction_id, queue_id=queue_id)
        if uniqueid not in self.connector.calls.channels and self.connector.is_ready:
            # Hung up while being queued: its Hangup came before it was tracked.
            await self._changes.put(_gone(uniqueid))
        holding = await hold_variables(self._runtime.database, queue_id)
        return "queued", {"PARLEY_INTERACTION": str(call.interaction_id), **holding}

    async def _run_menus(self, request: Request, menu_id: int, path: list[str]) -> int | None:
        """Play the caller the menus from `menu_id` on, noting each choice in `path`.
        Returns the queue chosen, 0 for the number's own queue, None to hang up (the
        caller chose so, hung up, or the menus lead in a circle)."""
        visited: set[int] = set()
        next_menu: int | None = menu_id
        while next_menu is not None:
            if next_menu in visited or len(visited) >= _MAX_MENUS:
                log.warning("voice.ivr_loop", menu_id=next_menu)
                return 0
            visited.add(next_menu)
            async with self._runtime.database.sessions() as db:
                row = await db.get(IvrMenu, next_menu)
            if row is None or not row.is_active:
                return 0
            menu = Menu.from_row(row)
            step = await self._ask(request, menu)
            if step.chosen:
                path.append(step.chosen)
            if step.kind == "queue":
                return step.target_id or 0
            if step.kind == "hangup":
                return None
            if step.kind == "default":
                return 0
            next_menu = step.target_id
        return 0

    async def _ask(self, request: Request, menu: Menu) -> Step:
        """Play the menu's prompt and read one key, as many times as it allows."""
        attempt = 1
        while True:
            digit = ""
            if menu.prompt:
                digit = _digit(await request.send_command(f'STREAM FILE {menu.prompt} "{DIGITS}"'))
            if not digit:
                wait = menu.timeout_seconds * 1000
                digit = _digit(await request.send_command(f"WAIT FOR DIGIT {wait}"))
            step = next_step(menu, digit, attempt)
            if step.kind != "again":
                return step
            attempt += 1

    # --- the engine's side ---------------------------------------------------------------

    async def _follow_assignments(self, assignments: Any) -> None:
        async with assignments:
            async for event in assignments:
                payload = event.payload
                if payload.get("channel") != Channel.VOICE.value:
                    continue
                if payload.get("direction") == Direction.OUTBOUND.value:
                    continue  # the agent's own call: `call_out` connects it
                try:
                    await self._connect(event.payload["interaction_id"], event.payload["agent_id"])
                except Exception:
                    log.exception("voice.connect_failed", **event.payload)

    async def _connect(self, interaction_id: int, agent_id: int) -> None:
        """Ring the agent's device for the call they accepted."""
        call = self._by_interaction.get(interaction_id)
        if call is None:
            log.warning("voice.assigned_unknown_call", interaction_id=interaction_id)
            return
        call.phase, call.agent_id, call.redirected = "connecting", agent_id, False
        call.accepted_at = self._monotonic()
        async with self._runtime.database.sessions() as db:
            device = await agent_device(db, agent_id)  # a forward-to number while set
        target = self.agent_dial_string(agent_id, device)
        live = self.connector.calls.channels.get(call.uniqueid)
        if target is None or live is None:
            reason = "the agent has no usable device" if live else "the caller is gone"
            log.warning("voice.cannot_connect", interaction_id=interaction_id, reason=reason)
            if live is None:
                await self._ended(call)
            else:
                await self._unanswered(call)
            return
        try:
            for name, value in (
                ("PARLEY_AGENT_DEVICE", target),
                ("PARLEY_RING_SECONDS", str(self.ring_seconds)),
                ("PARLEY_AGENT_ID", str(agent_id)),
                ("PARLEY_ANNOUNCEMENT", ""),  # no queue announcements once taken
            ):
                await self.connector.send(
                    {"Action": "Setvar", "Channel": live.name, "Variable": name, "Value": value}
                )
            await self.connector.send(
                {
                    "Action": "Redirect",
                    "Channel": live.name,
                    "Context": AGENT_CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                }
            )
        except (AmiError, TimeoutError) as exc:
            log.warning("voice.redirect_failed", interaction_id=interaction_id, reason=str(exc))
            if call.uniqueid in self.connector.calls.channels:
                await self._unanswered(call)
            return
        log.info("voice.connecting", interaction_id=interaction_id, agent_id=agent_id)

    async def _unanswered(self, call: _Call) -> None:
        call.phase, call.agent_id, call.accepted_at = "waiting", None, None
        try:
            await self._engine.unanswered(call.interaction_id)
        except DomainError as exc:
            log.warning("voice.requeue_refused", interaction_id=call.interaction_id, code=exc.code)

    # --- Asterisk's side -----------------------------------------------------------------

    async def _follow_calls(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                await self._on_change(change)
            except Exception:
                log.exception("voice.call_change_failed")

    async def _on_change(self, change: CallChange) -> None:
        if not isinstance(change, ChannelChange):
            return
        channel = change.channel
        call = self._calls.get(channel.uniqueid)
        if call is None:
            if change.kind == "added":
                self._note_ringing(channel)
            elif change.kind == "removed":
                voicemail = self._voicemails.pop(channel.uniqueid, None)
                if voicemail is not None:
                    await self._deliver_voicemail(voicemail)
                else:
                    await self._partner_gone(channel.uniqueid)
            return
        if call.interaction_id == 0:
            return  # still being queued; _admit looks again when it is done
        if change.kind == "removed":
            await self._ended(call)
        elif call.phase != "connecting":
            return
        elif channel.bridge_id:
            call.phase = "talking"
            call.partner_uniqueid = self._partner(channel)
            await self._publish("call.answered", call)
            await self._record_if_the_queue_does(call)
        elif channel.context == AGENT_CONTEXT:
            call.redirected = True
        elif channel.context == HOLD_CONTEXT and call.redirected:
            log.info("voice.agent_did_not_answer", interaction_id=call.interaction_id)
            await self._unanswered(call)

    def _partner(self, channel: LiveChannel) -> str | None:
        """The other channel in `channel`'s bridge: the agent's leg of a call."""
        bridge = self.connector.calls.bridges.get(channel.bridge_id or "")
        others = sorted(bridge.channel_ids - {channel.uniqueid}) if bridge else []
        return others[0] if others else None

    async def _partner_gone(self, uniqueid: str) -> None:
        """The other party's leg hung up. For a call that came in, that is the agent:
        while the caller holds, nobody will take them back,
        so the call ends for them too. While talking, the agent is done: the caller hangs
        up next (the dialplan ends their side) or stays with whom the agent handed them to
        (an attended transfer, a conference the agent left)."""
        call = next((c for c in self._calls.values() if c.partner_uniqueid == uniqueid), None)
        if call is None:
            return
        live = self.connector.calls.channels.get(call.uniqueid)
        if call.is_outbound:
            # The customer hung up on the agent's call; while held, the agent's leg waits
            # in silence and must be ended (talking, the dialplan ends it).
            if call.phase == "held" and live is not None:
                with contextlib.suppress(AmiError, TimeoutError):
                    await self.connector.send({"Action": "Hangup", "Channel": live.name})
            return
        if call.phase == "held" and live is not None:
            log.info("voice.agent_left_held_call", interaction_id=call.interaction_id)
            with contextlib.suppress(AmiError, TimeoutError):
                await self.connector.send({"Action": "Hangup", "Channel": live.name})
        elif call.phase == "talking" and live is not None:
            log.info("voice.agent_left_call", interaction_id=call.interaction_id)
            await self.release(call.interaction_id)

    def _note_ringing(self, channel: LiveChannel) -> None:
        """A new channel in a call being connected: the agent's device is ringing."""
        live = self.connector.calls.channels
        for call in self._calls.values():
            if call.phase != "connecting" or call.accepted_at is None:
                continue
            caller = live.get(call.uniqueid)
            if caller is not None and caller.linkedid == channel.linkedid:
                self.ring_latencies.append(self._monotonic() - call.accepted_at)
                call.accepted_at = None
                return

    async def _ended(self, call: _Call) -> None:
        """The caller's channel is gone: abandoned while waiting, else completed. The
        call is tracked until the engine has been told."""
        try:
            if call.phase != "waiting":
                await self._complete(call)
                return
            try:
                await self._engine.cancel(call.interaction_id, "abandoned")
            except DomainError:
                # Assigned in the meantime: the accepted call ends like any other.
                await self._complete(call)
                return
            log.info("voice.abandoned", interaction_id=call.interaction_id)
            await self._publish("call.abandoned", call)
            await self._queue_callback(call)
        finally:
            self._forget(call)

    async def _complete(self, call: _Call) -> None:
        try:
            await self._engine.complete(call.interaction_id)
        except DomainError as exc:
            log.warning("voice.complete_refused", interaction_id=call.interaction_id, code=exc.code)
            return
        await self._publish("call.ended", call)

    async def _deliver_voicemail(self, voicemail: _Voicemail) -> None:
        """The caller who left a message after hours hung up: the recording becomes a
        callback task in the queue (F-VO-8), waiting for the first agent back. A queue
        that takes no callbacks keeps the file, and the log says so."""
        wav = voicemail.recording.with_suffix(".wav")
        for _ in range(20):  # Record closes the file as the channel goes
            if wav.exists() and wav.stat().st_size > _WAV_HEADER:
                break
            await asyncio.sleep(0.05)
        else:
            log.info("voice.voicemail_empty", queue_id=voicemail.queue_id)
            return
        request = voicemail.request
        caller = request.attributes.get("caller_number", "")
        try:
            interaction_id = await self._engine.enqueue(
                replace(
                    request,
                    channel=Channel.CALLBACK,
                    direction=Direction.OUTBOUND,
                    external_ref=None,
                    after_hours=True,
                    attributes={
                        **request.attributes,
                        "callback_number": caller,
                        "reason": "voicemail",
                        "voicemail": wav.name,
                    },
                )
            )
        except DomainError as exc:
            log.warning("voice.voicemail_not_queued", file=wav.name, code=exc.code)
            return
        log.info("voice.voicemail_queued", interaction_id=interaction_id)

    async def _record_if_the_queue_does(self, call: _Call) -> None:
        """Queues that record their calls (F-VO-5) start when the call is answered."""
        if call.queue_id is None:
            return
        async with self._runtime.database.sessions() as db:
            records = await db.scalar(
                select(QueueRow.records_calls).where(QueueRow.id == call.queue_id)
            )
        live = self.connector.calls.channels.get(call.uniqueid)
        if not records or live is None:
            return
        path = self.recordings_dir / f"interaction-{call.interaction_id}-auto.wav"
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        customer = live
        if call.is_outbound and call.partner_uniqueid in self.connector.calls.channels:
            customer = self.connector.calls.channels[call.partner_uniqueid]
        try:
            await self.connector.send(
                {"Action": "MixMonitor", "Channel": customer.name, "File": str(path)}
            )
        except (AmiError, TimeoutError) as exc:
            log.warning(
                "voice.recording_failed", interaction_id=call.interaction_id, reason=str(exc)
            )
            return
        self.recorded_by_queue.add(call.interaction_id)
        await self.note_recording(call.interaction_id, path)

    async def note_recording(self, interaction_id: int, path: Path) -> None:
        """Keep the recording's file name on the interaction, for its history."""
        async with self._runtime.database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            names = [*interaction.attributes.get("recordings", []), path.name]
            interaction.attributes = {**interaction.attributes, "recordings": names}

    def recording_file(self, name: str) -> Path:
        """A call recording by its file name (never a path from elsewhere)."""
        path = self.recordings_dir / Path(name).name
        if not path.is_file() or path.suffix != ".wav":
            raise NotFound("Recording", name)
        return path

    def voicemail_file(self, name: str) -> Path:
        """A voicemail recording by its file name (never a path from elsewhere)."""
        path = self._voicemail_dir / Path(name).name
        if not path.is_file() or path.suffix != ".wav":
            raise NotFound("Voicemail", name)
        return path

    async def _queue_callback(self, call: _Call) -> None:
        """A lost call becomes a callback task in its queue (F-VO-7), offered first to
        the agent who last served the contact; only when there is a number to call and
        the queue takes callbacks."""
        if not call.caller or call.queue_id is None:
            return
        try:
            interaction_id = await self._engine.enqueue(
                EnqueueRequest(
                    channel=Channel.CALLBACK,
                    queue_id=call.queue_id,
                    direction=Direction.OUTBOUND,
                    contact_id=call.contact_id,
                    attributes={
                        "caller_number": call.caller,
                        "callback_number": call.caller,
                        "reason": "abandoned",
                        "abandoned_interaction_id": call.interaction_id,
                    },
                )
            )
        except DomainError as exc:
            log.info("voice.no_callback", interaction_id=call.interaction_id, code=exc.code)
            return
        log.info("voice.callback_queued", interaction_id=interaction_id, lost=call.interaction_id)

    async def _follow_connections(self) -> None:
        """After every (re)connect, end the calls whose channel Asterisk no longer has
        (hung up while Parley was not listening, or Asterisk restarted)."""
        connector = self.connector
        seen = 0
        while True:
            await connector.wait_until(partial(_reconnected, connector, seen))
            seen = connector.logins
            live = self.connector.calls.channels
            for call in list(self._calls.values()):
                if call.interaction_id and call.uniqueid not in live:
                    await self._changes.put(_gone(call.uniqueid))

    async def _publish(self, type_: str, call: _Call) -> None:
        payload = {
            "interaction_id": call.interaction_id,
            "agent_id": call.agent_id,
            "queue_id": call.queue_id,
            "caller_number": call.caller,
        }
        await self._runtime.bus.publish(Event.create(type_, payload, self._runtime.clock.now()))


class CallerGone(Exception):
    """The caller hung up during the AGI dialogue."""


def _digit(result: dict[str, Any]) -> str:
    """The key an AGI STREAM FILE / WAIT FOR DIGIT returned ("" for none)."""
    if "error" in result:
        raise CallerGone(result.get("msg", "hangup"))
    value = result.get("result", ("", ""))[0]
    code = int(value) if value.lstrip("-").isdigit() else 0
    return chr(code) if code > 0 else ""


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:100]


def _outbound_id(interaction_id: int) -> str:
    """The uniqueid Parley gives the agent's leg of a call they dial (AMI `ChannelId`),
    so a restart finds the channel again."""
    return f"parley-out-{interaction_id}"


def _reconnected(connector: AmiConnector, logins_seen: int) -> bool:
    return connector.is_ready and connector.logins > logins_seen


def _gone(uniqueid: str) -> ChannelChange:
    return ChannelChange("removed", LiveChannel(uniqueid, uniqueid, "", ""), "gone")


def _agi_headers(block: str) -> dict[str, str]:
    """The `agi_*: value` lines Asterisk sends first; ValueError when there are none."""
    headers = dict(
        line.split(": ", 1)
        for line in block.splitlines()
        if line.startswith("agi_") and ": " in line
    )
    if not headers:
        raise ValueError("no AGI variables")
    return headers
