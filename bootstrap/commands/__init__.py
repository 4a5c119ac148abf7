"""The canopy CLI's command groups."""
