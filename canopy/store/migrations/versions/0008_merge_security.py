"""Join the trust-boundary branches (admin marker, per-owner model names, node keys) into one head."""

from __future__ import annotations

revision = "0008_merge_security"
down_revision = ("0007_secrets_bootstrap_marker", "0007_gateway_model_owner_names", "0007_control_node_keys")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the merge only records that every branch is applied."""


def downgrade() -> None:
    """Nothing to undo."""
