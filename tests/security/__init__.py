"""Attacks from the outside: each test reproduces one and fails on the code before issue 7."""
