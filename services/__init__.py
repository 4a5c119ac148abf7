"""Canopy's services; each runs alone with `python -m services.<name>` or together in `canopy up`."""
