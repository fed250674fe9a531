"""The embedded SQLite store: its schema (:mod:`.schema`) and typed read API (:mod:`.queries`).

Written by :class:`threadline.exporters.sqlite.SQLiteSpanExporter`, read by the
``threadline`` CLI (and anything else, through :mod:`threadline.store.queries`).
"""

from __future__ import annotations

from threadline.store.schema import (
    SCHEMA_VERSION,
    StoreError,
    StoreNotFoundError,
    default_path,
    open_store,
    resolve_path,
)

__all__ = ["SCHEMA_VERSION", "StoreError", "StoreNotFoundError", "default_path", "open_store", "resolve_path"]
