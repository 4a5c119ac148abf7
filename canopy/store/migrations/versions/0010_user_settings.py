"""User settings: an e-mail address for the notifier and an IANA time zone for bookings."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_user_settings"
down_revision = "0009_apps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add users.email (optional) and users.timezone (UTC unless set)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("timezone")
        batch.drop_column("email")
