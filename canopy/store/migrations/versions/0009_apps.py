"""Apps: uploaded app packages, their instances with bindings and credentials, exclusive device holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_apps"
down_revision = "0008_merge_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the apps, app_instances and device_holds tables."""
    op.create_table(
        "apps",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_apps_owner_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("owner_id", "name", "version", name="uq_apps_owner_id"),
    )
    op.create_index("ix_apps_owner_id", "apps", ["owner_id"])
    op.create_table(
        "app_instances",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("app_id", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("bindings", sa.Text(), nullable=False),
        sa.Column("models", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name="fk_app_instances_app_id_apps", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_app_instances_owner_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_app_instances"),
        sa.UniqueConstraint("token_hash", name="uq_app_instances_token_hash"),
    )
    op.create_index("ix_app_instances_app_id", "app_instances", ["app_id"])
    op.create_index("ix_app_instances_owner_id", "app_instances", ["owner_id"])
    op.create_table(
        "device_holds",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("instance_id", sa.String(16), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_device_holds_device_id_devices", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["app_instances.id"],
            name="fk_device_holds_instance_id_app_instances",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_holds"),
    )
    op.create_index("ix_device_holds_instance_id", "device_holds", ["instance_id"])


def downgrade() -> None:
    """Drop the app tables."""
    op.drop_index("ix_device_holds_instance_id", table_name="device_holds")
    op.drop_table("device_holds")
    op.drop_index("ix_app_instances_owner_id", table_name="app_instances")
    op.drop_index("ix_app_instances_app_id", table_name="app_instances")
    op.drop_table("app_instances")
    op.drop_index("ix_apps_owner_id", table_name="apps")
    op.drop_table("apps")
