"""Telemetry: latest values, refusal counters and controller commands."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from canopy.store.models import UTCDateTime

revision = "0005_telemetry"
down_revision = "0003_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create telemetry_latest, telemetry_refusals and device_commands."""
    op.create_table(
        "telemetry_latest",
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("reading", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_telemetry_latest"),
    )
    op.create_table(
        "telemetry_refusals",
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_reason", sa.String(500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "kind", name="pk_telemetry_refusals"),
    )
    op.create_table(
        "device_commands",
        sa.Column("command_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("command_id", name="pk_device_commands"),
    )
    op.create_index("ix_device_commands_device_id", "device_commands", ["device_id"])


def downgrade() -> None:
    """Drop the telemetry tables."""
    op.drop_index("ix_device_commands_device_id", table_name="device_commands")
    for table in ("device_commands", "telemetry_refusals", "telemetry_latest"):
        op.drop_table(table)
