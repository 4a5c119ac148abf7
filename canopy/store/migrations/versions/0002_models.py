"""Uploaded model packages."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_models"
down_revision = "0001_users_and_tokens"
branch_labels = ("models",)
depends_on = None


def upgrade() -> None:
    """Create the models table."""
    op.create_table(
        "models",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("framework", sa.String(16), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_models_owner_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", "version", name="uq_models_name"),
    )
    op.create_index("ix_models_owner_id", "models", ["owner_id"])


def downgrade() -> None:
    """Drop the models table."""
    op.drop_index("ix_models_owner_id", table_name="models")
    op.drop_table("models")
