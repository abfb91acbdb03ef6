"""chat forms: pre-chat form, offline form, holding and "leave your contacts" (F-CH-2)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 02:45:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# As in 0005: each NOT NULL column is added with its default as a server default for the
# rows that exist, which is then dropped (the model owns the defaults).
_WIDGET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("prechat_fields", _JSON, "'[]'"),
    ("prechat_required", _JSON, "'[]'"),
    ("offline_form_enabled", sa.Boolean(), "false"),
    ("offline_notify_email", sa.String(length=320), "''"),
    ("holding_after_seconds", sa.Integer(), "30"),
    ("holding_text", sa.String(length=500), "''"),
    ("contacts_after_seconds", sa.Integer(), "60"),
    ("contacts_text", sa.String(length=500), "''"),
)
_VISITOR_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("details", _JSON, "'{}'"),
)


def _add(table: str, columns: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, type_, default in columns:
            batch_op.add_column(
                sa.Column(name, type_, nullable=False, server_default=sa.text(default))
            )
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, type_, _default in columns:
            batch_op.alter_column(name, existing_type=type_, server_default=None)


def _drop(table: str, columns: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, _type, _default in reversed(columns):
            batch_op.drop_column(name)


def upgrade() -> None:
    """Upgrade schema."""

    _add("chat_widgets", _WIDGET_COLUMNS)
    _add("chat_visitors", _VISITOR_COLUMNS)


def downgrade() -> None:
    """Downgrade schema."""

    _drop("chat_visitors", _VISITOR_COLUMNS)
    _drop("chat_widgets", _WIDGET_COLUMNS)
