"""chat widget look: texts, colours, position, operator, show/hide rules (F-CH-1)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 01:40:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# New NOT NULL columns need a value for the widgets that exist already: each column is
# added with its default as a server default, which is then dropped, so the database
# keeps no second copy of the defaults the model owns. `'[]'` is JSON text on SQLite and
# a literal PostgreSQL casts to jsonb.
_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("button_text", sa.String(length=60), "''"),
    ("window_title", sa.String(length=100), "''"),
    ("accent_color", sa.String(length=7), "'#1f6feb'"),
    ("accent_text_color", sa.String(length=7), "'#ffffff'"),
    ("position", sa.String(length=20), "'bottom-right'"),
    ("offset_x", sa.Integer(), "20"),
    ("offset_y", sa.Integer(), "20"),
    ("operator_name", sa.String(length=100), "''"),
    ("operator_photo_url", sa.String(length=2048), "''"),
    ("show_on", _JSON, "'[]'"),
    ("hide_on", _JSON, "'[]'"),
)


def upgrade() -> None:
    """Upgrade schema."""

    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, type_, default in _COLUMNS:
            batch_op.add_column(
                sa.Column(name, type_, nullable=False, server_default=sa.text(default))
            )
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, type_, _default in _COLUMNS:
            batch_op.alter_column(name, existing_type=type_, server_default=None)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, _type, _default in reversed(_COLUMNS):
            batch_op.drop_column(name)
