"""Table names and paths, in one place.

Every table has a name in the catalog (``schema.table`` locally, ``catalog.schema.table`` on Unity
Catalog when ``lakehouse.catalog`` is set) and a path under ``lakehouse.root``
(``<root>/<schema>/<table>``), so it can be read by name in SQL and by path from delta-rs or DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakepulse.settings import Settings


@dataclass(frozen=True)
class TableRef:
    name: str  # as used in SQL
    path: str  # Delta table location


def table_ref(settings: Settings, logical_name: str) -> TableRef:
    """``logical_name`` is ``schema.table`` as written in settings, e.g. ``bronze.events_raw``."""
    schema, table = logical_name.split(".")
    name = f"{settings.lakehouse.catalog}.{logical_name}" if settings.lakehouse.catalog else logical_name
    return TableRef(name=name, path=f"{settings.lakehouse_root.rstrip('/')}/{schema}/{table}")


def checkpoint_path(settings: Settings, query_name: str) -> str:
    """The checkpoint folder of a streaming query; a query's checkpoint must never be shared."""
    return f"{settings.checkpoint_root.rstrip('/')}/{query_name}"
