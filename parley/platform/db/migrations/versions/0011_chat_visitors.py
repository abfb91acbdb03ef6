"""chat: visitor tracking and proactive invitation scenarios

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = sa.DateTime(timezone=True)

# As in 0005 and 0008: each NOT NULL column is added with its default as a server
# default for the rows that exist, which is then dropped (the model owns the defaults).
_WIDGET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("show_in", _JSON, "'[]'"),
    ("hide_in", _JSON, "'[]'"),
)
_VISITOR_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("browser", sa.String(length=100), "''"),
    ("os", sa.String(length=100), "''"),
    ("city", sa.String(length=100), "''"),
    ("country", sa.String(length=100), "''"),
    ("visit_started_at", _TIME, "CURRENT_TIMESTAMP"),
    ("page_started_at", _TIME, "CURRENT_TIMESTAMP"),
    ("page_views", sa.Integer(), "0"),
    ("pages", _JSON, "'[]'"),
    ("invitations_seen", sa.Integer(), "0"),
)
_VISITOR_NULLABLE = (("left_at", _TIME), ("last_invited_at", _TIME))


def upgrade() -> None:
    """Upgrade schema."""

    for table, columns in (("chat_widgets", _WIDGET_COLUMNS), ("chat_visitors", _VISITOR_COLUMNS)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_, default in columns:
                batch_op.add_column(
                    sa.Column(name, type_, nullable=False, server_default=sa.text(default))
                )
            if table == "chat_visitors":
                for name, type_ in _VISITOR_NULLABLE:
                    batch_op.add_column(sa.Column(name, type_, nullable=True))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_, _default in columns:
                batch_op.alter_column(name, existing_type=type_, server_default=None)

    op.create_table(
        "chat_visitor_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_chat_visitor_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["chat_visitors.id"],
            name=op.f("fk_chat_visitor_comments_visitor_id_chat_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitor_comments")),
    )
    with op.batch_alter_table("chat_visitor_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_visitor_comments_visitor_id"), ["visitor_id"], unique=False
        )

    op.create_table(
        "chat_invitation_scenarios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("widget_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("min_time_on_site_seconds", sa.Integer(), nullable=True),
        sa.Column("min_time_on_page_seconds", sa.Integer(), nullable=True),
        sa.Column("max_invitations_seen", sa.Integer(), nullable=True),
        sa.Column("min_seconds_since_last_invitation", sa.Integer(), nullable=True),
        sa.Column("requires_agent_online", sa.Boolean(), nullable=False),
        sa.Column("is_new_visitor", sa.Boolean(), nullable=True),
        sa.Column("url_patterns", _JSON, nullable=False),
        sa.Column("referrer_contains", _JSON, nullable=False),
        sa.Column("location_contains", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["widget_id"],
            ["chat_widgets.id"],
            name=op.f("fk_chat_invitation_scenarios_widget_id_chat_widgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_invitation_scenarios")),
    )
    with op.batch_alter_table("chat_invitation_scenarios", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_invitation_scenarios_widget_id"), ["widget_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("chat_invitation_scenarios", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_invitation_scenarios_widget_id"))
    op.drop_table("chat_invitation_scenarios")
    with op.batch_alter_table("chat_visitor_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_visitor_comments_visitor_id"))
    op.drop_table("chat_visitor_comments")
    with op.batch_alter_table("chat_visitors", schema=None) as batch_op:
        for name, _type in reversed(_VISITOR_NULLABLE):
            batch_op.drop_column(name)
        for name, _type, _default in reversed(_VISITOR_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        for name, _type, _default in reversed(_WIDGET_COLUMNS):
            batch_op.drop_column(name)
