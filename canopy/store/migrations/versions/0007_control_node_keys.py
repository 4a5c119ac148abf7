"""Enrolled nodes: public keys, addresses and one-time join tokens."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_control_node_keys"
down_revision = "0006_merge_features"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the node_keys table."""
    op.create_table(
        "node_keys",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("addresses", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("join_token_hash", sa.String(64), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_node_keys"),
    )


def downgrade() -> None:
    """Drop the node_keys table."""
    op.drop_table("node_keys")
