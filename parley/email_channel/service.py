"""Mail in: an IMAP mailbox read into cases and queued to agents (F-EM-1, F-EM-2).

For one `EmailAccount`, `MailboxIngest.ingest_once` connects, SELECTs the folder and reads
every message whose UID is above the account's bookmark (`last_uid`, valid for one
UIDVALIDITY). Messages go in batches of consecutive UIDs (`IngestPolicy.batch_size`; a
mailbox followed with IDLE mostly sees batches of one): each is parsed, threaded into a
case (threads.py) and stored — its contact, its case, its `Message` row — and the whole
batch is written in ONE transaction that also advances the bookmark past it. So a crash
anywhere before that commit leaves every message of the batch unread for the next pass,
and a crash after it leaves nothing to redo; the unique Message-ID (`external_id`)
catches what the bookmark cannot (the same mail delivered twice, a new UIDVALIDITY that
makes us re-read the folder from UID 1). Batching is what makes a full mailbox fast:
the lookups (known Message-IDs, case numbers, contacts, open interactions) are made
once for the batch, and the database commits once. While a batch is written, the next
one is already being fetched and parsed.

Queueing to agents comes after the commit, because the engine creates the interaction in
its own transaction: every inbound email message without an interaction is queued (or
attached to its case's email interaction still open), which also picks up any message a
crash left between the commit and the engine. The interaction's `external_ref` names the
message, so that retry never queues the same message twice.

With an `Outbox`, a message that opens a case is acknowledged (F-EM-3) when the mailbox
has auto-acknowledgement on and autoreply.py agrees (no bounces, nothing automatic,
none of our own mailboxes, a per-sender rate limit whose history this object keeps in
memory): the acknowledgement is stored in the same transaction as the message, so it is
written exactly once, and sent after the commit; a failed send stays stored as failed.

`run` keeps one account's mailbox followed: IMAP IDLE when the server has it, polling
every `poll_seconds` when not (or when IDLE fails), reconnecting with exponential backoff
on errors, and waiting `login_retry_seconds` after a refused login (logged once per try,
never a tight loop against a server that will keep saying no).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel import store
from parley.email_channel.acknowledgement import add_acknowledgement
from parley.email_channel.agent_service import pinning_agents
from parley.email_channel.attachments import inline_image_ref, store_attachments
from parley.email_channel.autoreply import AckHistory, AckPolicy, decide_acknowledgement
from parley.email_channel.imap import ImapEndpoint, ImapError, ImapLoginFailed, ImapSession
from parley.email_channel.outbound import Outbox
from parley.email_channel.parsing import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    GENERATED_ID_DOMAIN,
    Address,
    ParsedMessage,
    parse_message,
)
from parley.email_channel.sanitize import sanitize_html
from parley.email_channel.threads import (
    ThreadDecision,
    case_numbers_in,
    strip_reply_prefixes,
    thread_message,
)
from parley.platform.cases import SlaTerms, sla_terms
from parley.platform.clock import Clock, SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database, after_commit, utcnow
from parley.platform.engine import EnqueueRequest
from parley.platform.errors import DomainError
from parley.platform.models import (
    Case,
    CasePriority,
    CaseStatus,
    Channel,
    Direction,
    EmailAccount,
    Message,
    MessageKind,
)
from parley.platform.secret_box import SecretBox

log = structlog.get_logger(__name__)

Enqueue = Callable[[EnqueueRequest], Awaitable[int]]
# Called at "parsed" (before any write) and "stored" (rows flushed, not committed) with
# the UID: the seam through which tests crash ingestion at the worst moments.
FaultHook = Callable[[str, int], None]

_MAX_EXTERNAL_ID = 500  # Message.external_id
_QUEUE_CHUNK = 200  # waiting messages looked up and written together
# The customer wrote: a case waiting for them, or done, has work again.
_REOPENED_BY_REPLY = (CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED)


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    poll_seconds: float = 60.0  # without IDLE
    idle_seconds: float = 25 * 60.0  # re-issue IDLE before servers drop it (RFC 2177: 29 min)
    timeout: float = 30.0  # any single wait on the server
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    login_retry_seconds: float = 600.0
    max_attachment_bytes: int | None = DEFAULT_MAX_ATTACHMENT_BYTES
    batch_size: int = 100  # messages written per transaction, at most
    # A batch stops growing past this many fetched bytes (held in memory until written);
    # a larger message is a batch of its own.
    batch_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.batch_bytes < 1:
            raise ValueError("batch_size and batch_bytes must be at least 1")


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class _Prepared:
    parsed: ParsedMessage
    external_id: str
    body_html: str
    attachments: list[dict[str, Any]]


class MailboxIngest:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        enqueue: Enqueue,
        policy: IngestPolicy | None = None,
        *,
        outbox: Outbox | None = None,
        clock: Clock | None = None,
        ack_policy: AckPolicy | None = None,
    ) -> None:
        self._database = database
        self._data_dir = Path(settings.data_dir)
        self._secrets = SecretBox(settings.resolved_secret_key())
        self._language = settings.default_language
        self._enqueue = enqueue
        self._outbox = outbox
        self._clock = clock or SystemClock()
        self._ack_policy = ack_policy or AckPolicy()
        self._ack_history: dict[int, AckHistory] = {}
        self.policy = policy or IngestPolicy()
        self.fault_hook: FaultHook | None = None
        # Per account, its queue's SLA terms, read once a pass (not once a message).
        self._sla_terms: dict[int, SlaTerms] = {}

    # --- following a mailbox -------------------------------------------------------------

    async def run(self, account_id: int) -> None:
        """Follow the mailbox until cancelled (the owner of this task cancels it)."""
        backoff = self.policy.backoff_initial
        while True:
            try:
                session = await self._connect(account_id)
            except ImapLoginFailed as error:
                await self._log_login_failure(account_id, error)
                await asyncio.sleep(self.policy.login_retry_seconds)
                continue
            except (ImapError, OSError) as error:
                log.warning("email.connect_failed", account_id=account_id, error=str(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.policy.backoff_max)
                continue
            try:
                use_idle = session.supports_idle
                if not use_idle:
                    log.info("email.polling", account_id=account_id, reason="no IDLE")
                while True:
                    await self._ingest(session, account_id)
                    backoff = self.policy.backoff_initial  # a whole pass worked
                    use_idle = await self._wait_for_news(session, account_id, use_idle)
            except asyncio.CancelledError:
                raise
            except (ImapError, OSError) as error:
                log.warning("email.connection_lost", account_id=account_id, error=str(error))
            except Exception:
                log.exception("email.ingest_failed", account_id=account_id)
            finally:
                await session.logout()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.policy.backoff_max)

    async def _wait_for_news(self, session: ImapSession, account_id: int, use_idle: bool) -> bool:
        """IDLE, or sleep a poll interval; whether IDLE is still worth using."""
        if use_idle:
            try:
                await session.wait_for_news(self.policy.idle_seconds)
                return True
            except ImapError as error:
                log.warning("email.idle_failed", account_id=account_id, error=str(error))
                return False  # this connection polls from now on
        await asyncio.sleep(self.policy.poll_seconds)
        return False

    # --- one pass --------------------------------------------------------------------------

    async def ingest_once(self, account_id: int) -> IngestResult:
        """Connect, store every new message, queue what waits, disconnect."""
        try:
            session = await self._connect(account_id)
        except ImapLoginFailed as error:
            await self._log_login_failure(account_id, error)
            raise
        try:
            return await self._ingest(session, account_id)
        finally:
            await session.logout()

    async def _connect(self, account_id: int) -> ImapSession:
        async with self._database.transaction() as db:
            account = await db.get_one(EmailAccount, account_id)
            endpoint = ImapEndpoint(
                host=account.imap_host,
                port=account.imap_port,
                tls=account.imap_tls,
                username=account.imap_username,
                password=self._secrets.open(account.imap_password_sealed),
                timeout=self.policy.timeout,
            )
        return await ImapSession.connect(endpoint)

    async def _log_login_failure(self, account_id: int, error: ImapLoginFailed) -> None:
        async with self._database.transaction() as db:
            account = await db.get_one(EmailAccount, account_id)
            host, port, username = account.imap_host, account.imap_port, account.imap_username
        log.error(
            "email.login_failed",
            account_id=account_id,
            host=host,
            port=port,
            username=username,
            server_said=str(error),
            retry_in_seconds=self.policy.login_retry_seconds,
        )

    async def _ingest(self, session: ImapSession, account_id: int) -> IngestResult:
        async with self._database.transaction() as db:
            account = await db.get_one(EmailAccount, account_id)
            folder_name, known_validity = account.imap_folder, account.uidvalidity
            last_uid = account.last_uid
            self._sla_terms[account_id] = await sla_terms(db, account.queue_id)
        folder = await session.select(folder_name)
        if folder.uidvalidity != known_validity:
            if known_validity is not None:
                log.warning(
                    "email.uidvalidity_changed",
                    account_id=account_id,
                    old=known_validity,
                    new=folder.uidvalidity,
                )
            async with self._database.transaction() as db:
                account = await db.get_one(EmailAccount, account_id)
                account.uidvalidity, account.last_uid = folder.uidvalidity, 0
            last_uid = 0
        stored = duplicates = 0
        uids = await session.uids_after(last_uid)
        batches = self._fetch_ahead(session, uids)
        async with contextlib.aclosing(batches) as fetched:
            async for batch in fetched:
                result = await self._store_batch(account_id, folder.uidvalidity, batch)
                stored += result.stored
                duplicates += result.duplicates
        await self.queue_waiting()
        return IngestResult(stored, duplicates)

    async def _fetch_ahead(
        self, session: ImapSession, uids: list[int]
    ) -> AsyncGenerator[list[tuple[int, _Prepared | None]], None]:
        """Batches of consecutive messages (up to `batch_size` of them, and `batch_bytes`),
        each fetched and prepared, in UID order (None: expunged since the search), the
        next batch already on its way while the caller stores this one: the server and
        the parsing thread work while the database does. Preparing writes attachments
        only, named by content, so one prepared and then dropped by a crash costs
        nothing.

        A batch costs two commands whatever its length: the sizes of the next
        `batch_size` messages (RFC822.SIZE), then one UID FETCH of those that fit in
        `batch_bytes`; a message larger than that is fetched alone."""
        policy = self.policy

        async def fetch(start: int) -> tuple[int, list[tuple[int, _Prepared | None]]]:
            window = uids[start : start + policy.batch_size]
            sizes = await session.sizes(window)
            chosen: list[int] = []
            size = 0
            for uid in window:
                length = sizes.get(uid)
                if length is not None and size and size + length > policy.batch_bytes:
                    break
                chosen.append(uid)
                size += length or 0
            bodies = await session.fetch_many([uid for uid in chosen if uid in sizes])
            raws = [(uid, bodies.get(uid)) for uid in chosen]
            return start + len(chosen), await asyncio.to_thread(self._prepare_all, raws)

        pending = asyncio.ensure_future(fetch(0)) if uids else None
        try:
            while pending is not None:
                following, batch = await pending
                pending = asyncio.ensure_future(fetch(following)) if following < len(uids) else None
                yield batch
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    def _prepare_all(
        self, raws: list[tuple[int, bytes | None]]
    ) -> list[tuple[int, _Prepared | None]]:
        return [(uid, None if raw is None else self._prepare(raw)) for uid, raw in raws]

    async def _store_batch(
        self, account_id: int, uidvalidity: int, batch: list[tuple[int, _Prepared | None]]
    ) -> IngestResult:
        """Store a batch of fetched messages in one transaction that moves the bookmark
        past all of them. Should another writer commit one of its Message-IDs meanwhile
        (the unique constraint says so), the batch is stored again one message at a time,
        so only that message counts as the duplicate."""
        for uid, prepared in batch:
            if prepared is not None:
                self._fault("parsed", uid)
        acknowledgements: list[int] = []
        try:
            async with self._database.transaction() as db:
                result = await self._write_batch(
                    db, account_id, uidvalidity, batch, acknowledgements
                )
        except IntegrityError:
            if len(batch) > 1:
                stored = duplicates = 0
                for item in batch:
                    alone = await self._store_batch(account_id, uidvalidity, [item])
                    stored, duplicates = stored + alone.stored, duplicates + alone.duplicates
                return IngestResult(stored, duplicates)
            # The same Message-ID was committed by another writer between our check and
            # our insert: it is stored, so only the bookmark moves.
            uid, prepared = batch[0]
            async with self._database.transaction() as db:
                stored_as = (
                    None
                    if prepared is None
                    else await db.scalar(
                        select(Message.id).where(Message.external_id == prepared.external_id)
                    )
                )
            if stored_as is None:
                raise
            await self._advance(account_id, uidvalidity, uid)
            return IngestResult(0, 1)
        if self._outbox is not None:
            for acknowledgement in acknowledgements:
                await self._outbox.deliver(acknowledgement)  # a failure is stored, not raised
        return result

    async def _write_batch(
        self,
        db: AsyncSession,
        account_id: int,
        uidvalidity: int,
        batch: list[tuple[int, _Prepared | None]],
        acknowledgements: list[int],
    ) -> IngestResult:
        """The writes of `_store_batch`, in its transaction `db`; the acknowledgements to
        send once it commits are appended to `acknowledgements`."""
        account = await db.get_one(EmailAccount, account_id, with_for_update=True)
        fresh = [
            (uid, prepared)
            for uid, prepared in batch
            if prepared is not None
            and account.uidvalidity == uidvalidity
            and uid > account.last_uid
        ]
        # Another worker got to the rest first.
        late = sum(1 for _, prepared in batch if prepared is not None) - len(fresh)
        if account.uidvalidity != uidvalidity:
            return IngestResult(0, late)
        account.last_uid = max(account.last_uid, *(uid for uid, _ in batch))
        if not fresh:
            return IngestResult(0, late)
        # The lookups of the whole batch, once: which of its Message-IDs (and those they
        # reply to) are stored, the case numbers of its subjects, its senders' contacts.
        wanted = [
            candidate
            for _, prepared in fresh
            for candidate in (
                prepared.external_id,
                prepared.parsed.in_reply_to or "",
                *prepared.parsed.references,
            )
            if candidate
        ]
        known = await store.stored_messages(db, wanted)
        by_id = await store.cases_of(db, known)
        numbers = {
            number for _, prepared in fresh for number in case_numbers_in(prepared.parsed.subject)
        }
        by_number = await store.cases_by_number(db, numbers)
        existing = set(by_id.values()) | set(by_number.values())
        await store.load_cases(db, existing)  # into the session: `get_one` below is free
        interactions = await store.open_email_interactions(db, existing)
        senders: dict[str, str] = {}  # address -> the name its first message gives
        for _, prepared in fresh:
            if (sender := _sender(prepared.parsed)) is not None:
                senders.setdefault(sender.normalized, sender.name)
        contacts = await store.contacts_for_addresses(db, senders)

        # Cases opened by this batch have no id until flushed: threading sees them under
        # a negative stand-in, and messages are written once they are flushed.
        opened: dict[int, Case] = {}
        unflushed = False
        in_batch: dict[str, int] = {}  # Message-ID -> case (or stand-in) of this batch
        rows: list[tuple[int, _Prepared, Case, ThreadDecision, int | None]] = []
        duplicates = late

        def case_for_message_id(message_id: str) -> int | None:
            return in_batch.get(message_id) or by_id.get(message_id)

        for uid, prepared in fresh:
            parsed = prepared.parsed
            if prepared.external_id in known or prepared.external_id in in_batch:
                log.info(
                    "email.duplicate",
                    account_id=account_id,
                    uid=uid,
                    message_id=prepared.external_id,
                    stored_as=known[prepared.external_id][0]
                    if prepared.external_id in known
                    else None,
                )
                duplicates += 1
                continue
            missing = [n for n in case_numbers_in(parsed.subject) if n not in by_number]
            if missing and unflushed:
                # A token may name a case this very batch opened: give them their numbers.
                await db.flush()
                unflushed = False
                by_number |= await store.cases_by_number(db, missing)
            decision = thread_message(
                _WithId(parsed, prepared.external_id),
                case_for_message_id=case_for_message_id,
                case_for_number=by_number.get,
            )
            sender = _sender(parsed)
            contact_id = contacts.get(sender.normalized) if sender else None
            if decision.case_id is None:
                opened_at = utcnow()
                case = Case(
                    subject=strip_reply_prefixes(parsed.subject)[:500],
                    queue_id=account.queue_id,
                    contact_id=contact_id,
                    created_at=opened_at,
                    sla_due_at=self._sla_terms.get(account_id, SlaTerms(None)).due_at(
                        opened_at, CasePriority.NORMAL
                    ),
                )
                db.add(case)
                unflushed = True
                stand_in = -(len(opened) + 1)
                opened[stand_in] = case
                in_batch[prepared.external_id] = stand_in
            else:
                case = (
                    opened[decision.case_id]
                    if decision.case_id < 0
                    else await db.get_one(Case, decision.case_id)
                )
                if case.status in _REOPENED_BY_REPLY:
                    case.status, case.closed_at = CaseStatus.OPEN, None
                in_batch[prepared.external_id] = decision.case_id
            rows.append((uid, prepared, case, decision, contact_id))
        if unflushed:
            await db.flush()
        opened_cases = {id(case) for case in opened.values()}
        for uid, prepared, case, decision, contact_id in rows:
            is_new_case = decision.case_id is None
            # A case opened by this batch has no interaction yet.
            if is_new_case or id(case) in opened_cases:
                interaction_id = None
            elif case.id in interactions or case.id in existing:
                interaction_id = interactions.get(case.id)
            else:
                interaction_id = await store.open_email_interaction(db, case.id)
            db.add(
                Message(
                    kind=MessageKind.EMAIL,
                    direction=Direction.INBOUND,
                    interaction_id=interaction_id,
                    case_id=case.id,
                    author_contact_id=contact_id,
                    external_id=prepared.external_id,
                    subject=prepared.parsed.subject[:998],
                    body_text=prepared.parsed.text_body or "",
                    body_html=prepared.body_html,
                    headers=_headers(prepared.parsed, prepared, account_id, uidvalidity, uid)
                    | {"thread": {"reason": decision.reason.value, "matched": decision.matched}},
                )
            )
        await db.flush()
        if self._outbox is not None and account.auto_ack_enabled:
            await self._acknowledge_batch(
                db,
                self._outbox,
                account,
                [
                    (case, prepared)
                    for _, prepared, case, decision, _ in rows
                    if decision.case_id is None
                ],
                acknowledgements,
            )
        for uid, prepared, case, decision, _ in rows:
            self._fault("stored", uid)
            log.info(
                "email.stored",
                account_id=account_id,
                uid=uid,
                message_id=prepared.external_id,
                case_id=case.id,
                thread=decision.reason.value,
            )
        return IngestResult(len(rows), duplicates)

    async def _acknowledge_batch(
        self,
        db: AsyncSession,
        outbox: Outbox,
        account: EmailAccount,
        opened: list[tuple[Case, _Prepared]],
        acknowledgements: list[int],
    ) -> None:
        """`_acknowledge_with` for the cases a batch opened, the rate limit's history carried
        from one to the next and kept once the batch commits."""
        if not opened:
            return
        own = await store.own_addresses(db)
        history = self._ack_history.get(account.id, AckHistory())
        for case, prepared in opened:
            ack_id, history = await self._acknowledge_with(
                db, outbox, account, case, prepared, _sender(prepared.parsed), own, history
            )
            if ack_id is not None:
                acknowledgements.append(ack_id)
        kept = history

        async def remember() -> None:
            self._ack_history[account.id] = kept

        after_commit(db, remember)

    async def _acknowledge_with(
        self,
        db: AsyncSession,
        outbox: Outbox,
        account: EmailAccount,
        case: Case,
        prepared: _Prepared,
        sender: Address | None,
        own_addresses: set[str],
        history: AckHistory,
    ) -> tuple[int | None, AckHistory]:
        """Store the acknowledgement of a message that opened `case`, if one is due: its
        id, and the rate limit's history after it."""
        decision = decide_acknowledgement(
            prepared.parsed,
            own_addresses=own_addresses,
            history=history,
            now=self._clock.now(),
            policy=self._ack_policy,
        )
        if not decision.should_send or decision.recipient is None:
            log.info(
                "email.ack_skipped", account_id=account.id, case_id=case.id, reason=decision.reason
            )
            return None, history
        ack = await add_acknowledgement(
            db,
            outbox,
            account=account,
            case=case,
            parsed=prepared.parsed,
            message_id=prepared.external_id,
            recipient=decision.recipient,
            contact_name=sender.name if sender else "",
            language=self._language,
        )
        return ack.id, decision.history

    def _prepare(self, raw: bytes) -> _Prepared:
        """The CPU and disk work of one message (run in a thread)."""
        parsed = parse_message(raw, max_attachment_bytes=self.policy.max_attachment_bytes)
        attachments = store_attachments(self._data_dir, parsed)
        # Inline images keep a reference to their stored file (`cid:` means nothing
        # once the message is taken apart); the thread view turns it into a URL.
        by_cid = {
            str(entry["content_id"]): inline_image_ref(str(entry["sha256"]))
            for entry in attachments
            if entry["content_id"] and entry["sha256"]
        }
        body_html = (
            sanitize_html(parsed.html_body, resolve_cid=by_cid.get) if parsed.html_body else ""
        )
        return _Prepared(parsed, _external_id(parsed), body_html, attachments)

    async def _advance(self, account_id: int, uidvalidity: int, uid: int) -> None:
        async with self._database.transaction() as db:
            account = await db.get_one(EmailAccount, account_id, with_for_update=True)
            if account.uidvalidity == uidvalidity and account.last_uid < uid:
                account.last_uid = uid

    def _fault(self, stage: str, uid: int) -> None:
        if self.fault_hook is not None:
            self.fault_hook(stage, uid)

    # --- to the agents ---------------------------------------------------------------------

    async def queue_waiting(self) -> int:
        """Queue every stored inbound email not yet on an interaction; how many were."""
        async with self._database.transaction() as db:
            rows = (
                await db.execute(
                    select(
                        Message.id,
                        Message.case_id,
                        Message.author_contact_id,
                        Message.subject,
                        Case.queue_id,
                        Message.headers,
                    )
                    .join(Case, Case.id == Message.case_id)
                    .where(
                        Message.kind == MessageKind.EMAIL,
                        Message.direction == Direction.INBOUND,
                        Message.interaction_id.is_(None),
                    )
                    .order_by(Message.id)
                )
            ).all()
        queued = 0
        for start in range(0, len(rows), _QUEUE_CHUNK):
            queued += await self._queue_chunk(rows[start : start + _QUEUE_CHUNK])
        return queued

    async def _queue_chunk(self, rows: Sequence[Any]) -> int:
        """Queue these waiting messages (rows of `queue_waiting`'s query): each joins the
        interaction queued for it before (a retry after a crash), else its case's open
        email interaction, else a new one. The lookups are made for the whole chunk at
        once, and the messages written to their interactions together, also when
        queueing stops half way (an error)."""
        refs = {row.id: f"email-message:{row.id}" for row in rows}
        async with self._database.transaction() as db:
            by_ref = await store.interactions_by_refs(db, refs.values())
            open_by_case = await store.open_email_interactions(
                db, (row.case_id for row in rows if row.case_id is not None)
            )
            pinned = await pinning_agents(db, (row.case_id for row in rows if row.case_id))
        assigned: dict[int, int] = {}
        queued = 0
        try:
            for message_id, case_id, contact_id, subject, queue_id, headers in rows:
                assert case_id is not None  # joined on Case
                interaction_id = by_ref.get(refs[message_id]) or open_by_case.get(case_id)
                if interaction_id is None:
                    if queue_id is None:
                        log.warning("email.no_queue", message_id=message_id, case_id=case_id)
                        continue
                    try:
                        interaction_id = await self._enqueue(
                            EnqueueRequest(
                                channel=Channel.EMAIL,
                                queue_id=queue_id,
                                contact_id=contact_id,
                                case_id=case_id,
                                external_ref=refs[message_id],
                                # A pinned case's email goes to the pinning agent first.
                                preferred_agent_id=pinned.get(case_id),
                                # Who wrote, for the offer and the tab (offers.js `caller`).
                                attributes={
                                    "subject": subject,
                                    "message_id": message_id,
                                    **_sender_attributes(headers),
                                },
                            )
                        )
                    except DomainError as error:
                        log.warning(
                            "email.enqueue_failed",
                            message_id=message_id,
                            case_id=case_id,
                            error=str(error),
                        )
                        continue  # stays unqueued: the next pass tries again
                    queued += 1
                    open_by_case[case_id] = interaction_id  # the case's next mail joins it
                assigned[message_id] = interaction_id
        finally:
            async with self._database.transaction() as db:
                await store.set_message_interactions(db, assigned)
        return queued


@dataclass(frozen=True, slots=True)
class _WithId:
    """A parsed message seen with the id it is stored under (see `_external_id`)."""

    parsed: ParsedMessage
    message_id: str

    @property
    def message_id_is_generated(self) -> bool:
        return self.parsed.message_id_is_generated

    @property
    def in_reply_to(self) -> str | None:
        return self.parsed.in_reply_to

    @property
    def references(self) -> tuple[str, ...]:
        return self.parsed.references

    @property
    def subject(self) -> str:
        return self.parsed.subject


def _external_id(parsed: ParsedMessage) -> str:
    """The Message-ID, or for one too long for the column a stable digest of it."""
    if len(parsed.message_id) <= _MAX_EXTERNAL_ID:
        return parsed.message_id
    digest = hashlib.sha256(parsed.message_id.encode("utf-8", "replace")).hexdigest()[:40]
    return f"<{digest}@{GENERATED_ID_DOMAIN}>"


def _sender(parsed: ParsedMessage) -> Address | None:
    sender = parsed.from_
    if sender is None or "@" not in sender.normalized or len(sender.normalized) > 320:
        return None
    return sender


def _addresses(addresses: tuple[Address, ...]) -> list[dict[str, str]]:
    return [{"name": a.name, "address": a.address} for a in addresses]


def _sender_attributes(headers: dict[str, Any]) -> dict[str, str]:
    sender = headers.get("from") or {}
    return {
        key: str(sender[field])
        for key, field in (("from", "address"), ("from_name", "name"))
        if sender.get(field)
    }


def _headers(
    parsed: ParsedMessage, prepared: _Prepared, account_id: int, uidvalidity: int, uid: int
) -> dict[str, Any]:
    return {
        "message_id": parsed.message_id,
        "message_id_is_generated": parsed.message_id_is_generated,
        "in_reply_to": parsed.in_reply_to,
        "references": list(parsed.references),
        "from": _addresses((parsed.from_,))[0] if parsed.from_ else None,
        "reply_to": _addresses(parsed.reply_to),
        "to": _addresses(parsed.to),
        "cc": _addresses(parsed.cc),
        "return_path": parsed.return_path,
        "date": parsed.date.isoformat() if parsed.date else None,
        "auto_signals": sorted(signal.value for signal in parsed.auto_signals),
        "bounced_recipients": list(parsed.bounced_recipients),
        "problems": list(parsed.problems),
        "size": parsed.size,
        "attachments": prepared.attachments,
        "imap": {"account_id": account_id, "uidvalidity": uidvalidity, "uid": uid},
    }
