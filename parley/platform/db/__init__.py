"""The data layer: engine, sessions, declarative base and migrations."""

from parley.platform.db.base import Base, TimestampMixin, UTCDateTime, utcnow
from parley.platform.db.engine import Database, create_database

__all__ = ["Base", "Database", "TimestampMixin", "UTCDateTime", "create_database", "utcnow"]
