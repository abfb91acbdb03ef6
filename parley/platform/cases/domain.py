"""The rules of cases (F-CS-1), decided without I/O: status changes, SLA due times,
merges, and which agents may see a case.

Status. A case starts `new` (nobody has worked on it yet) and moves freely between
`open` and `pending` (waiting on the customer); `resolved` (answered, may come back)
and `closed` (done for good) are the ends. The help-desk rules:

- nothing goes back to `new`: once worked on, a case stays worked on;
- `resolved` may be reopened (`open`) or closed; `closed` may only be reopened, to
  `open` (a customer's mail reopens a pending, resolved or closed case: email
  ingestion does that itself);
- `closed_at` is the moment a case reached `resolved` or `closed`, kept while it moves
  between the two, and cleared when it is reopened;
- a merged case is frozen: it is closed, points at the case it went into, and takes
  no change (the case it went into does).

SLA due time. A queue's `sla_threshold_seconds` is the time within which its work
should be answered; a case's priority scales it: urgent 1/4, high 1/2, normal 1, low 2.
The clock starts when the case is created, so changing the priority or the queue
recomputes the due time from the creation time, not from the moment of the change
(raising the priority of an old case can make it due, or overdue, at once). A case
with no queue, or in a queue whose threshold is 0, has no due time. Time is business
time when the queue has a schedule: only its open hours count (closed hours, closed
days and holidays stop the clock, in the schedule's time zone), so a case opened on
Friday evening is due on Monday; a schedule that is never open makes nothing due.
Without a schedule it is calendar time. The clock does not stop while a case is
pending: there is one due time, from the creation. A case is *breached* when its due
time has passed and it is not resolved or closed.

Merge. Merging case A into case B moves A's interactions and messages to B and leaves
A closed with `merged_into_id` = B. A target that was itself merged is followed to the
case it finally went into, and the chain stays one step long: cases merged into A earlier
now point at B too. A merge that would make a loop (into itself, into a case merged into
it) is refused, so following `merged_into_id` always ends.

Visibility. Supervisors and admins see every case. An agent sees the cases assigned to
them and those of the queues they are a member of; a queue's members are the agents
who meet its required skills (the router's rule before any overflow), so a queue that
requires no skill is everyone's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from parley.platform.errors import Conflict, InvalidTransition
from parley.platform.models import CasePriority, CaseStatus, Role
from parley.platform.routing.eligibility import meets_requirements
from parley.platform.schedules import WeeklyHours

DONE = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})

ALLOWED_STATUS_CHANGES: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset(
        {CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.OPEN: frozenset({CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.PENDING: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.OPEN}),
}

# The share of the queue's SLA threshold a case of each priority gets.
SLA_SHARE: Mapping[CasePriority, Fraction] = {
    CasePriority.URGENT: Fraction(1, 4),
    CasePriority.HIGH: Fraction(1, 2),
    CasePriority.NORMAL: Fraction(1),
    CasePriority.LOW: Fraction(2),
}

# Sorting by priority means by urgency, not by the names' alphabet.
PRIORITY_RANK: Mapping[CasePriority, int] = {
    CasePriority.LOW: 0,
    CasePriority.NORMAL: 1,
    CasePriority.HIGH: 2,
    CasePriority.URGENT: 3,
}

# Longer chains than this are data no merge of ours could have made.
MAX_CHAIN = 1_000


class CaseMerged(Conflict):
    """A change to a case that was merged: the case it went into takes changes."""

    def __init__(self, case_id: int, merged_into_id: int) -> None:
        super().__init__(
            "case_merged", f"Case {case_id} was merged into case {merged_into_id}; change that."
        )
        self.merged_into_id = merged_into_id


class MergeRefused(Conflict):
    def __init__(self, message: str) -> None:
        super().__init__("merge_refused", message)


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: CaseStatus
    closed_at: datetime | None


def change_status(
    current: CaseStatus, wanted: CaseStatus, closed_at: datetime | None, now: datetime
) -> StatusChange:
    """The case's status and `closed_at` after asking for `wanted` (see the module
    docstring); asking for the status it has changes nothing."""
    if wanted == current:
        return StatusChange(current, closed_at)
    if wanted not in ALLOWED_STATUS_CHANGES[current]:
        raise InvalidTransition(
            f"A {current.value} case cannot become {wanted.value}.", code="invalid_status_change"
        )
    if wanted in DONE:
        return StatusChange(wanted, closed_at if current in DONE and closed_at else now)
    return StatusChange(wanted, None)


def sla_due_at(
    created_at: datetime,
    threshold_seconds: int | None,
    priority: CasePriority,
    hours: WeeklyHours | None = None,
) -> datetime | None:
    """When a case created at `created_at` is due, in a queue with this SLA threshold
    (None: no queue) and these business hours (None: calendar time)."""
    if not threshold_seconds or threshold_seconds <= 0:
        return None
    seconds = Fraction(threshold_seconds) * SLA_SHARE[priority]
    if hours is not None:
        return hours.add_open_time(created_at, float(seconds))
    return created_at + timedelta(seconds=float(seconds))


@dataclass(frozen=True, slots=True)
class SlaTerms:
    """A queue's SLA: its threshold and the business hours it counts in."""

    threshold_seconds: int | None
    hours: WeeklyHours | None = None

    def due_at(self, created_at: datetime, priority: CasePriority) -> datetime | None:
        return sla_due_at(created_at, self.threshold_seconds, priority, self.hours)


def is_breached(due_at: datetime | None, status: CaseStatus, now: datetime) -> bool:
    return due_at is not None and due_at < now and status not in DONE


def merge_root(case_id: int, merged_into: Mapping[int, int | None]) -> int:
    """The case `case_id` finally went into (itself when not merged), following
    `merged_into` (case id -> the case it was merged into, None or absent: not merged)."""
    seen = {case_id}
    current = case_id
    while (following := merged_into.get(current)) is not None:
        if following in seen or len(seen) > MAX_CHAIN:
            raise MergeRefused(f"The merges of case {case_id} loop; fix them by hand.")
        seen.add(following)
        current = following
    return current


def merge_target(source_id: int, target_id: int, merged_into: Mapping[int, int | None]) -> int:
    """The case that `source_id` goes into when merged into `target_id`, refusing a merge
    that would loop. `merged_into` must hold the chain from `target_id` and the source."""
    if merged_into.get(source_id) is not None:
        raise CaseMerged(source_id, merge_root(source_id, merged_into))
    root = merge_root(target_id, merged_into)
    if root == source_id:
        if target_id == source_id:
            raise MergeRefused(f"Case {source_id} cannot be merged into itself.")
        raise MergeRefused(
            f"Case {target_id} was merged into case {source_id}: merging back would loop."
        )
    return root


def merged_state(
    merged_into: Mapping[int, int | None], source_id: int, target_id: int
) -> dict[int, int | None]:
    """`merged_into` after merging `source_id` into `target_id`: the source and every
    case that pointed at it now point at the final target. Raises as `merge_target`."""
    root = merge_target(source_id, target_id, merged_into)
    after = dict(merged_into)
    for case_id, following in merged_into.items():
        if following == source_id:
            after[case_id] = root
    after[source_id] = root
    return after


def member_queue_ids(
    skill_levels: Mapping[int, int], requirements: Mapping[int, Mapping[int, int]]
) -> frozenset[int]:
    """The queues (id -> {skill id: min level}) whose members include an agent with these
    skill levels (skill id -> level)."""
    levels = {str(skill): level for skill, level in skill_levels.items()}
    return frozenset(
        queue_id
        for queue_id, required in requirements.items()
        if meets_requirements(levels, {str(skill): lvl for skill, lvl in required.items()}, 0)
    )


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at cases: their id, role and (for agents) member queues."""

    user_id: int
    role: Role
    queue_ids: frozenset[int] = frozenset()

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


def may_see(viewer: Viewer, queue_id: int | None, assignee_id: int | None) -> bool:
    """Whether `viewer` may read (and so work on) a case in this queue with this assignee."""
    if viewer.sees_everything:
        return True
    return assignee_id == viewer.user_id or (queue_id is not None and queue_id in viewer.queue_ids)


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: trimmed, lower case, each once, in the order first given."""
    cleaned = (tag.strip().lower() for tag in tags)
    return list(dict.fromkeys(tag for tag in cleaned if tag))
