"""Opening the SQLite store safely: validated, created at the current schema or migrated to it.

The tables are described in :mod:`.tables` and the upgrades of older stores
in :mod:`.migrations`. A ``meta`` table names the file a threadline store and
records its schema version; a file that is not one (another application's
database, or not SQLite at all) is refused with a :class:`StoreError` rather
than written to.

The file is created ``0600`` in a ``0700`` directory (when threadline creates
them): traces hold prompts and completions. WAL journaling lets several
processes write while the CLI reads.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from threadline.store.migrations import MIGRATIONS
from threadline.store.tables import SPAN_COLUMNS, current_schema

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SPAN_COLUMNS",
    "StoreError",
    "StoreNotFoundError",
    "connect_readonly",
    "connection",
    "default_path",
    "is_locked_error",
    "open_store",
    "resolve_path",
    "retry_locked",
]

SCHEMA_VERSION = 3
APPLICATION = "threadline"
# PRAGMA application_id: "TLN1" as a 32-bit big-endian integer; a hint for `file(1)`-style tools.
APPLICATION_ID = 0x544C4E31
DEFAULT_DIR = ".threadline"
DEFAULT_FILE = "traces.db"
ENV_VAR = "THREADLINE_DB"
BUSY_TIMEOUT_S = 10.0
# How long a writer keeps retrying "database is locked" before giving up on one batch.
LOCK_RETRY_S = 60.0

T = TypeVar("T")


class StoreError(Exception):
    """The file at the store's path cannot be used as a threadline store."""


class StoreNotFoundError(StoreError):
    """There is no store at the path (nothing has been traced there yet)."""


def default_path() -> Path:
    """Where the store lives: ``$THREADLINE_DB``, else ``.threadline/traces.db`` under the cwd."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.cwd() / DEFAULT_DIR / DEFAULT_FILE


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """``path`` when given (it wins over the environment), else :func:`default_path`."""
    if path is None or str(path) == "":
        return default_path()
    return Path(path).expanduser()


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's transient "database is locked" / "busy" errors."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry_locked(fn: Callable[[], T], *, deadline_s: float = LOCK_RETRY_S) -> T:
    """Run ``fn``, retrying with backoff while SQLite reports the database locked.

    The busy timeout already waits inside SQLite; this covers what it cannot
    (a lock held past the timeout, the WAL switch, a stale read snapshot).
    """
    give_up = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_locked_error(exc) or time.monotonic() >= give_up:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _make_private_dirs(directory: Path) -> None:
    """Create missing directories ``0700``; existing ones are left as they are."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask


@contextlib.contextmanager
def connection(db: str | os.PathLike[str] | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``db`` itself when it is a connection, else the store at that path, opened and closed around the block."""
    if isinstance(db, sqlite3.Connection):
        yield db
        return
    conn = open_store(db, create=False)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the block (or the commit) raises.

    IMMEDIATE takes the write lock up front, so waiting happens in the busy handler
    rather than as a "locked" error when a read upgrades to a write.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _create_private_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    try:
        if hasattr(os, "fchmod"):  # POSIX; the open mode above is filtered by the umask
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,  # explicit BEGIN / COMMIT only
        check_same_thread=False,  # the batch thread exports; force_flush may run on another
        uri=uri,
    )
    return conn


def _describe(path: Path, exc: BaseException) -> StoreError:
    return StoreError(
        f"{path} is not a usable threadline store ({exc}). It may be corrupted or not a SQLite file; "
        f"move it aside, or point threadline elsewhere with the path argument or ${ENV_VAR}."
    )


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {r[0] for r in rows}


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except sqlite3.OperationalError as exc:
        if is_locked_error(exc):
            raise
        return {}  # another application's "meta" table


def _check_meta(path: Path, tables: set[str], conn: sqlite3.Connection) -> int | None:
    """The store's schema version; ``None`` for a new, empty database. Raises for a foreign file."""
    if not tables:
        return None
    meta = _meta(conn) if "meta" in tables else {}
    if meta.get("application") != APPLICATION or "schema_version" not in meta:
        shown = ", ".join(sorted(tables)[:8])
        raise StoreError(
            f"{path} is a SQLite database but not a threadline store (tables: {shown}); threadline will not "
            f"write to it. Choose another path (argument or ${ENV_VAR})."
        )
    try:
        version = int(meta["schema_version"])
    except ValueError:
        raise StoreError(f"{path}: unreadable schema_version {meta['schema_version']!r}") from None
    if version < 1 or (version < SCHEMA_VERSION and version not in MIGRATIONS):
        raise StoreError(
            f"{path} has store schema version {version}, which no threadline release wrote; threadline will not "
            f"write to it. Move it aside, or choose another path (argument or ${ENV_VAR})."
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has store schema version {version}, newer than this threadline understands "
            f"({SCHEMA_VERSION}); upgrade threadline."
        )
    return version


def _initialise(conn: sqlite3.Connection, path: Path) -> None:
    """Create or migrate the schema inside one write transaction (safe against a racing process)."""

    def attempt() -> None:
        with write_transaction(conn):
            tables = _tables(conn)
            version = _check_meta(path, tables, conn)
            if version is None:
                for statement in current_schema():
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("application", APPLICATION),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("created_ns", str(time.time_ns())),
                    ],
                )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            else:
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](conn)
                    version += 1
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    retry_locked(attempt)


def open_store(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> sqlite3.Connection:
    """Open (and with ``create``, make) the store at ``path``; validated and migrated.

    Raises :class:`StoreNotFoundError` when ``create`` is false and nothing is
    there, and :class:`StoreError` for a file that is not a threadline store.
    The connection is in autocommit mode (use explicit transactions) and may
    be used from several threads, one at a time.
    """
    p = resolve_path(path)
    if create:
        try:
            _make_private_dirs(p.parent)
            _create_private_file(p)
        except OSError as exc:
            raise StoreError(
                f"cannot create the threadline store at {p} ({exc}); choose a writable path with the "
                f"path argument or ${ENV_VAR}"
            ) from exc
    elif not p.exists():
        raise StoreNotFoundError(f"no threadline store at {p}")
    elif p.is_dir():
        raise StoreError(f"{p} is a directory, not a threadline store")
    try:
        conn = _connect(str(p)) if create else _connect_existing(p)
    except sqlite3.Error as exc:
        raise _describe(p, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        tables = retry_locked(lambda: _tables(conn))
        version = retry_locked(lambda: _check_meta(p, tables, conn))
        if version != SCHEMA_VERSION:
            if version is None and not create:
                raise StoreNotFoundError(f"the threadline store at {p} is empty (nothing has been traced yet)")
            if version is None:
                # Before the first table (and the WAL switch): a new store gives pages back after a prune.
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            _set_wal(conn)
            _initialise(conn, p)
        elif create:
            _set_wal(conn)
        if create:
            _check_writable(conn, p)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at each WAL checkpoint; traces need no fsync per batch
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _is_readonly_error(exc) or (create and _only_readable(p, exc)):
            raise StoreError(_readonly_message(p, exc, create)) from exc
        if is_locked_error(exc):
            raise StoreError(f"{p} stayed locked by another process for {LOCK_RETRY_S:.0f} s ({exc})") from exc
        raise _describe(p, exc) from exc
    return conn


def _is_readonly_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text


def _only_readable(path: Path, exc: BaseException) -> bool:
    """True when opening for writing failed ("unable to open": no ``-shm`` can be made) but reading works."""
    if "unable to open" not in str(exc).lower():
        return False
    try:
        connect_readonly(path).close()
    except sqlite3.Error:
        return False
    return True


def _readonly_message(path: Path, exc: BaseException, create: bool) -> str:
    if create:
        return (
            f"cannot write to the threadline store at {path}: the file or its directory is read-only for this "
            f"user ({exc}). `threadline sessions` and `threadline ui` can still read it; to record traces, "
            f"choose a writable path with the path argument or ${ENV_VAR}."
        )
    return (
        f"{path} was written by an older threadline and must be upgraded once, which needs write access "
        f"({exc}); open it once with write access (e.g. `threadline sessions` as its owner)."
    )


def _check_writable(conn: sqlite3.Connection, path: Path) -> None:
    """Raise a plain :class:`StoreError` now when the store cannot be written (read-only file or file system).

    SQLite opens such a file read-only without a word; the first write would fail much later, on the
    batch thread. A statement that needs the write lock (and changes nothing) finds out.
    """

    def probe() -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE meta SET value = value WHERE 0")
        finally:
            conn.execute("ROLLBACK")

    retry_locked(probe)


def _connect_existing(p: Path) -> sqlite3.Connection:
    """Open an existing file without ever creating one; read-only if it cannot be written."""
    uri = p.resolve().as_uri()
    try:
        conn = _connect(uri + "?mode=rw", uri=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return conn
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc).lower() and "unable to open" not in str(exc).lower():
            raise
    return connect_readonly(p)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the existing store at ``path``, also on a read-only file system.

    A WAL store needs its ``-shm`` file to be read; where that cannot be created (the
    directory is read-only, so no process can be writing either) the file is opened
    ``immutable``, which reads it without one.
    """
    uri = path.resolve().as_uri()
    for i, options in enumerate(("?mode=ro", "?mode=ro&immutable=1")):
        conn = _connect(uri + options, uri=True)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if i or "unable to open" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def _set_wal(conn: sqlite3.Connection) -> None:
    # Persistent in the file. Where WAL is unavailable (a file system without shared
    # memory) SQLite keeps its rollback journal: still correct, only less concurrent.
    retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchall())
