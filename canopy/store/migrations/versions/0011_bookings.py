"""Bookings of apps at locations and the scheduler's record of each of their windows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_bookings"
down_revision = "0010_user_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the bookings and booking_windows tables."""
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(16), nullable=False),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("first_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("span_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.Column("bindings", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_bookings_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_bookings_app_id_apps", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
    )
    op.create_index("ix_bookings_user_id", "bookings", ["user_id"])
    op.create_index("ix_bookings_app_id", "bookings", ["app_id"])
    op.create_index("ix_bookings_last_end", "bookings", ["last_end"])
    op.create_index("ix_bookings_status", "bookings", ["status"])
    op.create_table(
        "booking_windows",
        sa.Column("booking_id", sa.String(16), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("instance_id", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name="fk_booking_windows_booking_id_bookings", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("booking_id", "start", name="pk_booking_windows"),
    )
    op.create_index("ix_booking_windows_instance_id", "booking_windows", ["instance_id"])


def downgrade() -> None:
    """Drop the booking tables."""
    op.drop_index("ix_booking_windows_instance_id", table_name="booking_windows")
    op.drop_table("booking_windows")
    for index in ("ix_bookings_status", "ix_bookings_last_end", "ix_bookings_app_id", "ix_bookings_user_id"):
        op.drop_index(index, table_name="bookings")
    op.drop_table("bookings")
