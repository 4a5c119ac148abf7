"""Keep-the-newest upserts, built with the store's own dialect (the other dialect is never loaded)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

from sqlalchemy import Table


@functools.cache
def newest_row_upsert(dialect: str, table: Table, order_column: str) -> Any:
    """INSERT of a row that replaces the row of its primary key unless that one's `order_column` is newer.

    One statement on SQLite and PostgreSQL (INSERT ... ON CONFLICT DO UPDATE ... WHERE), built once per
    dialect and table; a late, older row changes nothing.
    """
    statement = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
    newer = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[column.name for column in table.primary_key],
        set_={column.name: newer[column.name] for column in table.columns if not column.primary_key},
        where=table.c[order_column] <= newer[order_column],
    )
