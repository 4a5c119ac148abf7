"""Join the models, deployments and devices/telemetry branches into one head."""

from __future__ import annotations

revision = "0006_merge_features"
down_revision = ("0002_models", "0004_deployments", "0005_telemetry")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the merge only records that every branch is applied."""


def downgrade() -> None:
    """Nothing to undo."""
