"""The data layer on SQLite and PostgreSQL: migrations match the models, values round-trip,
and the database itself enforces the rules the domain relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from parley.platform.db import Base, Database, create_database
from parley.platform.db.migrate import alembic_config, current_revision, head_revision
from parley.platform.models import (
    AgentSkill,
    Contact,
    ContactIdentity,
    Queue,
    Role,
    RoutingStrategy,
    Skill,
    User,
)


@pytest.fixture
async def database(database_url: str) -> Database:
    db = create_database(database_url)
    yield db  # type: ignore[misc]
    await db.dispose()


async def test_migrations_reach_head_and_match_the_models(database: Database) -> None:
    assert await current_revision(database) == head_revision()

    def diff(connection: Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with database.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_migrations_downgrade_to_empty_and_upgrade_again(database: Database) -> None:
    def run(connection: Connection, revision: str, *, down: bool) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(run, "base", down=True)
    assert await current_revision(database) is None
    async with database.engine.begin() as connection:
        await connection.run_sync(run, "head", down=False)
    assert await current_revision(database) == head_revision()


async def _user(database: Database, username: str = "anna") -> int:
    async with database.transaction() as db:
        user = User(username=username, display_name="Anna", password_hash="x", role=Role.AGENT)
        db.add(user)
        await db.flush()
        return user.id


async def test_datetimes_come_back_aware_utc_whatever_zone_went_in(database: Database) -> None:
    warsaw_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    user_id = await _user(database)
    async with database.transaction() as db:
        user = await db.get_one(User, user_id)
        user.created_at = warsaw_noon
    async with database.sessions() as db:
        stored = (await db.get_one(User, user_id)).created_at
    assert stored == warsaw_noon
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 10


async def test_naive_datetimes_are_refused(database: Database) -> None:
    user_id = await _user(database)
    with pytest.raises(Exception, match="naive datetime"):
        async with database.transaction() as db:
            (await db.get_one(User, user_id)).created_at = datetime(2026, 1, 1)


async def test_enums_are_stored_by_value_and_json_round_trips(database: Database) -> None:
    async with database.transaction() as db:
        queue = Queue(
            name="Support",
            channels=["voice", "chat"],
            strategy=RoutingStrategy.BEST_SKILL,
            overflow_queue_ids=[2, 3],
        )
        db.add(queue)
    async with database.sessions() as db:
        loaded = await db.scalar(select(Queue).where(Queue.name == "Support"))
        raw = (await db.execute(select(Queue.__table__.c.strategy))).scalar_one()
    assert loaded is not None
    assert loaded.strategy is RoutingStrategy.BEST_SKILL
    assert raw == "best_skill"
    assert loaded.channels == ["voice", "chat"]
    assert loaded.overflow_queue_ids == [2, 3]


async def test_skill_level_outside_one_to_ten_is_refused_by_the_database(
    database: Database,
) -> None:
    user_id = await _user(database)
    async with database.transaction() as db:
        skill = Skill(name="billing")
        db.add(skill)
        await db.flush()
        skill_id = skill.id
    with pytest.raises(IntegrityError):
        async with database.transaction() as db:
            db.add(AgentSkill(user_id=user_id, skill_id=skill_id, level=11))


async def test_one_identity_belongs_to_one_contact(database: Database) -> None:
    async with database.transaction() as db:
        first, second = Contact(name="A"), Contact(name="B")
        db.add_all([first, second])
        await db.flush()
        db.add(ContactIdentity(contact_id=first.id, kind="phone", value="+48221234567"))
    with pytest.raises(IntegrityError):
        async with database.transaction() as db:
            db.add(ContactIdentity(contact_id=second.id, kind="phone", value="+48221234567"))


async def test_deleting_a_user_deletes_their_skills(database: Database) -> None:
    user_id = await _user(database)
    async with database.transaction() as db:
        skill = Skill(name="english")
        db.add(skill)
        await db.flush()
        db.add(AgentSkill(user_id=user_id, skill_id=skill.id, level=7))
    async with database.transaction() as db:
        await db.delete(await db.get_one(User, user_id))
    async with database.sessions() as db:
        assert (await db.scalars(select(AgentSkill))).all() == []


def test_utc_now_is_aware() -> None:
    from parley.platform.db import utcnow

    assert utcnow().tzinfo is UTC
