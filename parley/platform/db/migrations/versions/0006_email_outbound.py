"""email outbound: templates, drafts, auto-acknowledgement settings (F-EM-3, F-EM-4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 01:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "email_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_email_templates_name")),
    )
    op.create_table(
        "email_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("parent_message_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("to", _JSON, nullable=False),
        sa.Column("cc", _JSON, nullable=False),
        sa.Column("bcc", _JSON, nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("attachments", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_email_drafts_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_email_drafts_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_message_id"],
            ["messages.id"],
            name=op.f("fk_email_drafts_parent_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_drafts")),
    )
    with op.batch_alter_table("email_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_drafts_interaction_id"), ["interaction_id"], unique=False
        )
    with op.batch_alter_table("email_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_ack_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("auto_ack_template_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_email_accounts_auto_ack_template_id_email_templates"),
            "email_templates",
            ["auto_ack_template_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # The default was only for the rows already there; the model sets it from now on.
    with op.batch_alter_table("email_accounts", schema=None) as batch_op:
        batch_op.alter_column("auto_ack_enabled", server_default=None)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("email_accounts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_email_accounts_auto_ack_template_id_email_templates"),
            type_="foreignkey",
        )
        batch_op.drop_column("auto_ack_template_id")
        batch_op.drop_column("auto_ack_enabled")
    with op.batch_alter_table("email_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_drafts_interaction_id"))
    op.drop_table("email_drafts")
    op.drop_table("email_templates")
