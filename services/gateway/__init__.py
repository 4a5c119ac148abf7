"""The gateway: REST API /api/v1, authentication and role checks."""
