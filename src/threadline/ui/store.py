"""Read-only access to the store for the web view.

Every request opens its own connection with SQLite's ``mode=ro`` URI (and
``query_only``), reads one snapshot through :mod:`threadline.store.queries`,
and closes it: nothing is cached, so spans written by a running application
show on the next reload, and the view can never write to the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from threadline.store.schema import (
    APPLICATION,
    ENV_VAR,
    SCHEMA_VERSION,
    StoreError,
    StoreNotFoundError,
    connect_readonly,
)

__all__ = ["check_store", "open_readonly", "reading"]


def open_readonly(path: Path) -> sqlite3.Connection:
    """Open the threadline store at ``path`` read-only, after checking it is one.

    Raises :class:`StoreNotFoundError` when nothing is there (or the file is
    empty: nothing traced yet) and :class:`StoreError` for a file that is not a
    threadline store or was written by a newer or older threadline.
    """
    if not path.exists():
        raise StoreNotFoundError(f"no threadline store at {path}")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a threadline store")
    try:
        conn = connect_readonly(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path} read-only ({exc})") from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        _check(conn, path)
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} is not a usable threadline store ({exc})") from exc
    return conn


def _check(conn: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        raise StoreNotFoundError(f"the threadline store at {path} is empty (nothing has been traced yet)")
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
    if meta.get("application") != APPLICATION or "spans" not in tables:
        raise StoreError(f"{path} is a SQLite database but not a threadline store")
    version = meta.get("schema_version", "")
    if version != str(SCHEMA_VERSION):
        raise StoreError(
            f"{path} has store schema version {version}; this threadline reads version {SCHEMA_VERSION}. "
            "Use the threadline version that wrote it (an older store is upgraded when an app writes to it)."
        )


@contextlib.contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh read-only connection to ``path`` for one request, closed afterwards."""
    conn = open_readonly(path)
    try:
        yield conn
    finally:
        conn.close()


def check_store(path: Path) -> str | None:
    """``None`` when ``path`` is a readable store, else a message saying what is wrong and what to do."""
    try:
        with reading(path):
            return None
    except StoreNotFoundError as exc:
        return (
            f"{exc}. Run an app that calls threadline.instrument() first, "
            f"or point at a store with --db PATH or ${ENV_VAR}."
        )
    except StoreError as exc:
        return str(exc)
