"""Fixtures of the security tier: the functional tier's embedded backends, gateway client and tokens."""

from tests.functional.conftest import backends, client, issue_token, role_tokens

__all__ = ["backends", "client", "issue_token", "role_tokens"]
