"""queues: pick mode (manual pick: a group queue agents take email from, F-RT-6)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pick_mode",
                sa.Enum("auto", "manual", name="pickmode", native_enum=False, length=20),
                nullable=False,
                server_default="auto",
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("pick_mode")
