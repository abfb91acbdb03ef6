"""scheduled callbacks (F-VO-7) and queues that record their calls (F-VO-5)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 02:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATE = sa.Enum(
    "pending", "queued", "cancelled", name="callbackstate", native_enum=False, length=20
)


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "scheduled_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("is_personal", sa.Boolean(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", _STATE, nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_scheduled_callbacks_agent_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_scheduled_callbacks_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_scheduled_callbacks_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_scheduled_callbacks_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_callbacks")),
    )
    with op.batch_alter_table("scheduled_callbacks", schema=None) as batch_op:
        for column in ("agent_id", "due_at", "queue_id", "state"):
            batch_op.create_index(batch_op.f(f"ix_scheduled_callbacks_{column}"), [column])
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("records_calls", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("records_calls")
    with op.batch_alter_table("scheduled_callbacks", schema=None) as batch_op:
        for column in ("agent_id", "due_at", "queue_id", "state"):
            batch_op.drop_index(batch_op.f(f"ix_scheduled_callbacks_{column}"))
    op.drop_table("scheduled_callbacks")
