"""The logger: stores the platform's log records and dead letters, keeps them bounded, archives each day."""
