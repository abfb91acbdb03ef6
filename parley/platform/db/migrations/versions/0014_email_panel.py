"""email: pinned items and masked text

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:00:00.000000

Masking rewrites the stored message text itself (no column); pinning needs who pinned.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinned_agent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_interactions_pinned_agent_id_users"),
            "users",
            ["pinned_agent_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_interactions_pinned_agent_id"), ["pinned_agent_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_pinned_agent_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_interactions_pinned_agent_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("pinned_agent_id")
