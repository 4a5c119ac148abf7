"""The logger's tables: log records and dead letters, indexed for the log queries."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_logs"
down_revision = "0011_bookings"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the log_records and dead_letters tables."""
    op.create_table(
        "log_records",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("logger", sa.String(128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_records"),
    )
    op.create_index("ix_log_records_at", "log_records", ["at"])
    op.create_index("ix_log_records_model_id_id", "log_records", ["model_id", "id"])
    op.create_index("ix_log_records_instance_id_id", "log_records", ["instance_id", "id"])
    op.create_index("ix_log_records_service_id", "log_records", ["service", "id"])
    op.create_index("ix_log_records_node_id", "log_records", ["node", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_encoding", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_at", "dead_letters", ["at"])


def downgrade() -> None:
    """Drop the logger's tables."""
    op.drop_table("dead_letters")
    op.drop_table("log_records")
