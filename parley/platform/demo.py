"""Demo data: a small contact center to click through right after `parley demo`.

The data is plain values; `seed_demo` stores whatever of it is missing and leaves what
exists alone, so running it again changes nothing and keeps any edits made in the
console. Users are created with the passwords the caller hands in (the CLI decides
whether those are the well-known demo passwords or random ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.auth.passwords import hash_password
from parley.platform.db import Database
from parley.platform.models import (
    AgentSkill,
    Channel,
    Disposition,
    Queue,
    QueueSkill,
    QuickReply,
    ReasonCode,
    Role,
    RoutingStrategy,
    Schedule,
    Skill,
    Team,
    User,
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    language: str = "en"
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoQueue:
    name: str
    description: str
    channels: tuple[Channel, ...]
    required_skills: Mapping[str, int]
    schedule: str
    strategy: RoutingStrategy
    priority: int = 0


TEAM = "Front line"
TEAM_BREAK_BUDGET_MINUTES = 60

SKILLS = {
    "billing": "Invoices, payments and refunds",
    "technical": "Troubleshooting the product",
    "english": "Speaks English",
    "russian": "Speaks Russian",
    "polish": "Speaks Polish",
}

USERS = (
    DemoUser("admin", "Ada Admin", Role.ADMIN),
    DemoUser("supervisor", "Sam Supervisor", Role.SUPERVISOR),
    DemoUser(
        "anna",
        "Anna Ivanova",
        Role.AGENT,
        language="ru",
        skills={"technical": 8, "english": 7, "russian": 10, "billing": 3},
    ),
    DemoUser(
        "piotr",
        "Piotr Nowak",
        Role.AGENT,
        language="pl",
        skills={"billing": 8, "polish": 10, "english": 6, "technical": 4},
    ),
)
TEAM_MEMBERS = ("supervisor", "anna", "piotr")

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
SCHEDULES: dict[str, dict[str, Any]] = {
    "Support hours": {
        "time_zone": "Europe/Warsaw",
        "hours": {day: [["08:00", "20:00"]] for day in _WEEKDAYS} | {"sat": [["10:00", "16:00"]]},
        "holidays": [
            {"date": "2026-12-25", "name": "Christmas Day"},
            {"date": "2027-01-01", "name": "New Year's Day"},
        ],
    },
    "Sales hours": {
        "time_zone": "Europe/Warsaw",
        "hours": {day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in _WEEKDAYS},
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
    },
}

QUEUES = (
    DemoQueue(
        "Support",
        "Technical help on every channel",
        (Channel.VOICE, Channel.CHAT, Channel.EMAIL),
        {"technical": 3},
        "Support hours",
        RoutingStrategy.LONGEST_IDLE,
    ),
    DemoQueue(
        "Sales",
        "New orders and pricing",
        (Channel.VOICE, Channel.CHAT),
        {"billing": 5},
        "Sales hours",
        RoutingStrategy.BEST_SKILL,
        priority=5,
    ),
)

# code -> (name, is_productive, max_duration_seconds)
REASON_CODES: dict[str, tuple[str, bool, int | None]] = {
    "lunch": ("Lunch", False, 3600),
    "break": ("Break", False, 900),
    "training": ("Training", True, None),
    "meeting": ("Meeting", True, None),
}

# code -> (name, is_success)
DISPOSITIONS: dict[str, tuple[str, bool]] = {
    "resolved": ("Resolved", True),
    "callback_requested": ("Callback requested", False),
    "not_interested": ("Not interested", False),
    "wrong_number": ("Wrong number", False),
}

# shortcut -> (title, body)
QUICK_REPLIES: dict[str, tuple[str, str]] = {
    "/hello": (
        "Greeting",
        "Hello! Thank you for contacting us. How can I help you today?",
    ),
    "/bye": (
        "Closing",
        "Thank you for contacting us. Is there anything else I can help you with?",
    ),
}


@dataclass
class SeedReport:
    """What one seeding run created; `created_users` are the only accounts whose
    password was set by this run."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    created_users: list[str] = field(default_factory=list)

    def count(self, kind: str, *, was_created: bool) -> None:
        tally = self.created if was_created else self.existing
        tally[kind] = tally.get(kind, 0) + 1

    @property
    def created_anything(self) -> bool:
        return any(self.created.values())


async def _seed_skills(db: AsyncSession, report: SeedReport) -> dict[str, Skill]:
    skills: dict[str, Skill] = {}
    for name, description in SKILLS.items():
        skill = await db.scalar(select(Skill).where(Skill.name == name))
        report.count("skills", was_created=skill is None)
        if skill is None:
            skill = Skill(name=name, description=description)
            db.add(skill)
        skills[name] = skill
    await db.flush()
    return skills


async def _seed_team(db: AsyncSession, report: SeedReport) -> Team:
    team = await db.scalar(select(Team).where(Team.name == TEAM))
    report.count("teams", was_created=team is None)
    if team is None:
        team = Team(
            name=TEAM,
            description="Agents answering the Support and Sales queues",
            break_budget_minutes=TEAM_BREAK_BUDGET_MINUTES,
        )
        db.add(team)
        await db.flush()
    return team


async def _seed_users(
    db: AsyncSession,
    report: SeedReport,
    skills: Mapping[str, Skill],
    team: Team,
    password_for: Callable[[str], str],
) -> None:
    for demo_user in USERS:
        user = await db.scalar(select(User).where(User.username == demo_user.username))
        report.count("users", was_created=user is None)
        if user is not None:
            continue
        user = User(
            username=demo_user.username,
            display_name=demo_user.display_name,
            email=f"{demo_user.username}@demo.parley.invalid",
            password_hash=hash_password(password_for(demo_user.username)),
            role=demo_user.role,
            language=demo_user.language,
            team_id=team.id if demo_user.username in TEAM_MEMBERS else None,
        )
        db.add(user)
        await db.flush()
        for skill_name, level in demo_user.skills.items():
            db.add(AgentSkill(user_id=user.id, skill_id=skills[skill_name].id, level=level))
        report.created_users.append(demo_user.username)
    await db.flush()


async def _seed_schedules(db: AsyncSession, report: SeedReport) -> dict[str, Schedule]:
    schedules: dict[str, Schedule] = {}
    for name, values in SCHEDULES.items():
        schedule = await db.scalar(select(Schedule).where(Schedule.name == name))
        report.count("schedules", was_created=schedule is None)
        if schedule is None:
            schedule = Schedule(name=name, **values)
            db.add(schedule)
        schedules[name] = schedule
    await db.flush()
    return schedules


async def _seed_queues(
    db: AsyncSession,
    report: SeedReport,
    skills: Mapping[str, Skill],
    schedules: Mapping[str, Schedule],
) -> None:
    for demo_queue in QUEUES:
        queue = await db.scalar(select(Queue).where(Queue.name == demo_queue.name))
        report.count("queues", was_created=queue is None)
        if queue is not None:
            continue
        queue = Queue(
            name=demo_queue.name,
            description=demo_queue.description,
            channels=[channel.value for channel in demo_queue.channels],
            priority=demo_queue.priority,
            strategy=demo_queue.strategy,
            schedule_id=schedules[demo_queue.schedule].id,
        )
        db.add(queue)
        await db.flush()
        for skill_name, min_level in demo_queue.required_skills.items():
            db.add(
                QueueSkill(queue_id=queue.id, skill_id=skills[skill_name].id, min_level=min_level)
            )
    await db.flush()


async def _seed_reason_codes(db: AsyncSession, report: SeedReport) -> None:
    for code, (name, is_productive, max_duration) in REASON_CODES.items():
        exists = await db.scalar(select(ReasonCode.id).where(ReasonCode.code == code))
        report.count("reason codes", was_created=exists is None)
        if exists is None:
            db.add(
                ReasonCode(
                    code=code,
                    name=name,
                    is_productive=is_productive,
                    max_duration_seconds=max_duration,
                )
            )


async def _seed_dispositions(db: AsyncSession, report: SeedReport) -> None:
    for code, (name, is_success) in DISPOSITIONS.items():
        # Looked up rather than relying on the unique constraint: (code, NULL queue) rows
        # never conflict in SQL, since NULLs are distinct.
        exists = await db.scalar(
            select(Disposition.id).where(Disposition.code == code, Disposition.queue_id.is_(None))
        )
        report.count("dispositions", was_created=exists is None)
        if exists is None:
            db.add(Disposition(code=code, name=name, is_success=is_success))


async def _seed_quick_replies(db: AsyncSession, report: SeedReport) -> None:
    for shortcut, (title, body) in QUICK_REPLIES.items():
        exists = await db.scalar(
            select(QuickReply.id).where(
                QuickReply.shortcut == shortcut, QuickReply.owner_id.is_(None)
            )
        )
        report.count("quick replies", was_created=exists is None)
        if exists is None:
            db.add(QuickReply(title=title, shortcut=shortcut, body=body, folder="Demo"))


async def seed_demo(database: Database, password_for: Callable[[str], str]) -> SeedReport:
    """Store the demo data that is missing, in one transaction; `password_for(username)`
    is asked only for users this run creates."""
    report = SeedReport()
    async with database.transaction() as db:
        skills = await _seed_skills(db, report)
        team = await _seed_team(db, report)
        await _seed_users(db, report, skills, team, password_for)
        schedules = await _seed_schedules(db, report)
        await _seed_queues(db, report, skills, schedules)
        await _seed_reason_codes(db, report)
        await _seed_dispositions(db, report)
        await _seed_quick_replies(db, report)
    return report
