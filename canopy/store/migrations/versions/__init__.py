"""Alembic revision scripts, oldest first: NNNN_what_changed.py."""
