"""Bring a platform up: the canopy CLI, the all-in-one `canopy up` and `canopy infra`."""
