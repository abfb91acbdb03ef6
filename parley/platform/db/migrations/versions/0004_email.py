"""email: mailboxes (IMAP in, SMTP out) with their ingestion bookmark (F-EM-1)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TLS_MODE = sa.Enum("none", "starttls", "tls", name="tlsmode", native_enum=False, length=20)


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "email_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("imap_host", sa.String(length=255), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_username", sa.String(length=320), nullable=False),
        sa.Column("imap_password_sealed", sa.Text(), nullable=False),
        sa.Column("imap_tls", _TLS_MODE, nullable=False),
        sa.Column("imap_folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("smtp_host", sa.String(length=255), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("smtp_username", sa.String(length=320), nullable=False),
        sa.Column("smtp_password_sealed", sa.Text(), nullable=False),
        sa.Column("smtp_tls", _TLS_MODE, nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_email_accounts_queue_id_queues"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_accounts")),
    )
    with op.batch_alter_table("email_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_accounts_queue_id"), ["queue_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("email_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_accounts_queue_id"))

    op.drop_table("email_accounts")
