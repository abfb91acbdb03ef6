"""chat: files sent in chats

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:00:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# As in 0008: added with the model's default as a server default for the rows that
# exist, which is then dropped (the model owns the defaults).
_WIDGET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("file_max_bytes", sa.Integer(), str(10 * 1024 * 1024)),
    ("file_kinds", _JSON, """'["image", "pdf", "office", "text"]'"""),
)


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "chat_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_chat_files_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_files")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_files_public_id")),
    )
    with op.batch_alter_table("chat_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_files_interaction_id"), ["interaction_id"])
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, type_, default in _WIDGET_COLUMNS:
            batch_op.add_column(
                sa.Column(name, type_, nullable=False, server_default=sa.text(default))
            )
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, type_, _default in _WIDGET_COLUMNS:
            batch_op.alter_column(name, existing_type=type_, server_default=None)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, _type, _default in reversed(_WIDGET_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("chat_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_files_interaction_id"))
    op.drop_table("chat_files")
