"""Device types, locations and devices."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_devices"
down_revision = "0001_users_and_tokens"
branch_labels = ("devices",)
depends_on = None


def upgrade() -> None:
    """Create the device_types, locations and devices tables."""
    op.create_table(
        "device_types",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_device_types"),
    )
    op.create_table(
        "locations",
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_locations"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type_name", sa.String(64), nullable=False),
        sa.Column("location_path", sa.String(255), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_name"], ["device_types.name"], name="fk_devices_type_name_device_types"
        ),
        sa.ForeignKeyConstraint(
            ["location_path"], ["locations.path"], name="fk_devices_location_path_locations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("credential_hash", name="uq_devices_credential_hash"),
    )
    op.create_index("ix_devices_type_name", "devices", ["type_name"])
    op.create_index("ix_devices_location_path", "devices", ["location_path"])


def downgrade() -> None:
    """Drop the devices, locations and device_types tables."""
    op.drop_index("ix_devices_location_path", table_name="devices")
    op.drop_index("ix_devices_type_name", table_name="devices")
    op.drop_table("devices")
    op.drop_table("locations")
    op.drop_table("device_types")
