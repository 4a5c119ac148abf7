"""Create and drop the PostgreSQL database that holds one app instance's data (postgresql handler)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from canopy.apps.database_plan import DatabasePlan

CONNECT_TIMEOUT = 10


def create_database(plan: DatabasePlan) -> str | None:
    """Create the instance's database (owned by the platform's role, closed to every other role).

    Returns None when it exists afterwards, otherwise what went wrong and what to do.
    """
    try:
        with psycopg.connect(plan.admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (plan.pg_database,))
            if found.fetchone() is not None:
                return None
            name = sql.Identifier(plan.pg_database)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
    except psycopg.errors.DuplicateDatabase:
        return None
    except psycopg.errors.InsufficientPrivilege:
        return (
            f"the platform's PostgreSQL role may not create database {plan.pg_database}: run "
            "`canopy infra up ferretdb` (it grants the canopy role CREATEDB), or grant CREATEDB yourself"
        )
    except psycopg.Error as exc:
        return f"creating PostgreSQL database {plan.pg_database} failed: {str(exc).strip()}"
    return None


def drop_database(plan: DatabasePlan) -> str | None:
    """Drop the instance's database and everything in it, disconnecting its sessions; None when gone."""
    try:
        with psycopg.connect(plan.admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            name = sql.Identifier(plan.pg_database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    except psycopg.Error as exc:
        return f"dropping PostgreSQL database {plan.pg_database} failed: {str(exc).strip()}"
    return None
