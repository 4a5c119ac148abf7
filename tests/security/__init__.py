"""Attacks from the outside: each test reproduces an attack and fails on the code before issue 7."""
