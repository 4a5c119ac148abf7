"""Platform markers: the first administrator is created once, never again after it was removed."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007_secrets_bootstrap_marker"
down_revision = "0006_merge_features"
branch_labels = None
depends_on = None

ADMIN_BOOTSTRAPPED = "admin_bootstrapped"


def upgrade() -> None:
    """Create platform_markers; a platform that already has users counts as bootstrapped."""
    markers = op.create_table(
        "platform_markers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_platform_markers"),
    )
    if op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar():
        op.bulk_insert(markers, [{"name": ADMIN_BOOTSTRAPPED, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    """Drop platform_markers."""
    op.drop_table("platform_markers")
