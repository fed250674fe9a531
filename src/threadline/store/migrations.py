"""Schema migrations: a store written by an older release upgraded in place, nothing lost.

:data:`MIGRATIONS` ``[n]`` upgrades a version-``n`` store to version ``n + 1``
inside the caller's write transaction (:func:`threadline.store.schema.open_store`
runs them in order on first open). Each back-fills what its version adds from
the stored spans, so a migrated store reads exactly as a new one would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from threadline.store.tables import SCHEMA_V2_TABLES, SCHEMA_V3_ADDITIONS

__all__ = ["MIGRATIONS"]

_V1_TO_V2_COLUMNS = (
    ("environment", "TEXT"),
    ("session_original_id", "TEXT"),
    ("cost_input_usd", "REAL"),
    ("cost_output_usd", "REAL"),
    ("checkpoint_id", "TEXT"),
    ("session_meta", "TEXT"),
    ("content", "TEXT"),
)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """v1 -> v2: the new span columns (filled from the attributes), rollup tables back-filled."""
    from threadline.store import rollups  # its back-fill imports the exporter, which imports the store

    for name, kind in _V1_TO_V2_COLUMNS:
        conn.execute(f"ALTER TABLE spans ADD COLUMN {name} {kind}")
    conn.execute("DROP INDEX IF EXISTS spans_session")
    for statement in SCHEMA_V2_TABLES:
        conn.execute(statement)
    rollups.backfill_span_columns(conn)
    rollups.rebuild(conn)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """v2 -> v3: the full-text search index, back-filled from the stored spans; indexes for the traces page."""
    from threadline.store import search_index  # it imports content and tables; imported here when needed

    for statement in SCHEMA_V3_ADDITIONS:
        conn.execute(statement)
    search_index.backfill(conn)


# MIGRATIONS[n] upgrades a version-n store to version n + 1, inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_v1, 2: _migrate_v2}
