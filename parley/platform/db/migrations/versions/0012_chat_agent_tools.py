"""chat: bans, inactivity close, CSAT

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _foreign_key(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    """Upgrade schema."""

    # As in 0005: the NOT NULL column gets its default as a server default for the rows
    # that exist, which is then dropped (the model owns the default).
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "inactivity_close_minutes",
                sa.Integer(),
                nullable=False,
                server_default=sa.text("0"),
            )
        )
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.alter_column(
            "inactivity_close_minutes", existing_type=sa.Integer(), server_default=None
        )

    op.create_table(
        "chat_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("widget_id", sa.Integer(), nullable=False),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("banned_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("until", _WHEN, nullable=False),
        sa.Column("lifted_at", _WHEN, nullable=True),
        sa.Column("lifted_by_id", sa.Integer(), nullable=True),
        _foreign_key("chat_bans", "widget_id", "chat_widgets", "CASCADE"),
        _foreign_key("chat_bans", "interaction_id", "interactions", "SET NULL"),
        _foreign_key("chat_bans", "banned_by_id", "users", "SET NULL"),
        _foreign_key("chat_bans", "lifted_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_bans")),
    )
    with op.batch_alter_table("chat_bans", schema=None) as batch_op:
        for column in ("widget_id", "visitor_key", "ip"):
            batch_op.create_index(batch_op.f(f"ix_chat_bans_{column}"), [column], unique=False)

    op.create_table(
        "chat_ratings",
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        _foreign_key("chat_ratings", "interaction_id", "interactions", "CASCADE"),
        _foreign_key("chat_ratings", "queue_id", "queues", "SET NULL"),
        _foreign_key("chat_ratings", "agent_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_chat_ratings")),
    )
    with op.batch_alter_table("chat_ratings", schema=None) as batch_op:
        for column in ("queue_id", "agent_id"):
            batch_op.create_index(batch_op.f(f"ix_chat_ratings_{column}"), [column], unique=False)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("chat_ratings", schema=None) as batch_op:
        for column in ("agent_id", "queue_id"):
            batch_op.drop_index(batch_op.f(f"ix_chat_ratings_{column}"))
    op.drop_table("chat_ratings")
    with op.batch_alter_table("chat_bans", schema=None) as batch_op:
        for column in ("ip", "visitor_key", "widget_id"):
            batch_op.drop_index(batch_op.f(f"ix_chat_bans_{column}"))
    op.drop_table("chat_bans")
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.drop_column("inactivity_close_minutes")
