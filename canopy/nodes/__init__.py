"""Nodes: enrolment (join tokens, Ed25519 keys) and the trust rules for their messages."""
