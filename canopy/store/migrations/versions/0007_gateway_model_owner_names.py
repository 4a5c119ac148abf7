"""Model names are unique per owner: (owner_id, name, version) replaces the global (name, version)."""

from __future__ import annotations

from alembic import op

revision = "0007_gateway_model_owner_names"
down_revision = "0006_merge_features"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Swap the global name constraint for one per owner."""
    with op.batch_alter_table("models") as batch:
        batch.drop_constraint("uq_models_name", type_="unique")
        batch.create_unique_constraint("uq_models_owner_id", ["owner_id", "name", "version"])


def downgrade() -> None:
    """Back to globally unique names (fails if two owners share a name and version)."""
    with op.batch_alter_table("models") as batch:
        batch.drop_constraint("uq_models_owner_id", type_="unique")
        batch.create_unique_constraint("uq_models_name", ["name", "version"])
