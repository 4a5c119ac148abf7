"""The gateway's blueprints, one per area."""
