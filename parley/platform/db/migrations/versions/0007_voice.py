"""voice: dialled numbers to queues and IVR menus, blocked callers (F-VO-1, F-VO-9)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 02:00:00.000000

"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "ivr_menus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prompt", sa.String(length=500), nullable=False),
        sa.Column("prompt_text", sa.String(length=2000), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_menus")),
        sa.UniqueConstraint("name", name=op.f("uq_ivr_menus_name")),
    )
    op.create_table(
        "voice_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("ivr_menu_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_voice_numbers_queue_id_queues"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ivr_menu_id"],
            ["ivr_menus.id"],
            name=op.f("fk_voice_numbers_ivr_menu_id_ivr_menus"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_voice_numbers_number")),
    )
    with op.batch_alter_table("voice_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_numbers_queue_id"), ["queue_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_voice_numbers_ivr_menu_id"), ["ivr_menu_id"], unique=False
        )
    op.create_table(
        "blocked_callers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_callers")),
        sa.UniqueConstraint("pattern", name=op.f("uq_blocked_callers_pattern")),
    )


def downgrade() -> None:
    """Downgrade schema."""

    op.drop_table("blocked_callers")
    with op.batch_alter_table("voice_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_numbers_ivr_menu_id"))
        batch_op.drop_index(batch_op.f("ix_voice_numbers_queue_id"))
    op.drop_table("voice_numbers")
    op.drop_table("ivr_menus")
