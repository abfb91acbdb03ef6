"""chat: widgets, visitors, and seq / client_msg_id on messages (F-CH-1..8)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 17:13:22.483197

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "chat_widgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_chat_widgets_queue_id_queues"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_widgets")),
        sa.UniqueConstraint("public_key", name=op.f("uq_chat_widgets_public_key")),
    )
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_widgets_queue_id"), ["queue_id"], unique=False)

    op.create_table(
        "chat_visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("widget_id", sa.Integer(), nullable=False),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_count", sa.Integer(), nullable=False),
        sa.Column("page_url", sa.String(length=2048), nullable=False),
        sa.Column("page_title", sa.String(length=300), nullable=False),
        sa.Column("referrer", sa.String(length=2048), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("screen", sa.String(length=20), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_chat_visitors_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["widget_id"],
            ["chat_widgets.id"],
            name=op.f("fk_chat_visitors_widget_id_chat_widgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitors")),
        sa.UniqueConstraint("widget_id", "visitor_key", name=op.f("uq_chat_visitors_widget_id")),
    )
    with op.batch_alter_table("chat_visitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_visitors_contact_id"), ["contact_id"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("client_msg_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_messages_interaction_client_msg", ["interaction_id", "client_msg_id"]
        )
        batch_op.create_unique_constraint("uq_messages_interaction_seq", ["interaction_id", "seq"])


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_interaction_seq", type_="unique")
        batch_op.drop_constraint("uq_messages_interaction_client_msg", type_="unique")
        batch_op.drop_column("client_msg_id")
        batch_op.drop_column("seq")

    with op.batch_alter_table("chat_visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_visitors_contact_id"))

    op.drop_table("chat_visitors")
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_widgets_queue_id"))

    op.drop_table("chat_widgets")
