"""The data layer: engine, sessions, declarative base and migrations."""

from parley.platform.db.base import Base, TimestampMixin, UTCDateTime, utcnow
from parley.platform.db.engine import Database, after_commit, create_database

__all__ = [
    "Base",
    "Database",
    "TimestampMixin",
    "UTCDateTime",
    "after_commit",
    "create_database",
    "utcnow",
]
