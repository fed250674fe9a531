"""The SQLite store's layout: DDL, versioned migrations, and opening a file safely.

One table of spans with the columns the CLI's queries need promoted out of
the attributes (ids, times, status, outcome, session, user, model, tokens,
cost, time to first token, interrupt and resume markers), plus every
attribute, event and link as JSON. A ``meta`` table names the file a
threadline store and records its schema version; a file that is not one
(another application's database, or not SQLite at all) is refused with a
:class:`StoreError` rather than written to.

The file is created ``0600`` in a ``0700`` directory (when threadline creates
them): traces hold prompts and completions. WAL journaling lets several
processes write while the CLI reads.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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


SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "span_kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "outcome",
    "session_id",
    "user_id",
    "integration",
    "operation",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "usage_counted_in",
    "ttft_ms",
    "is_resume",
    "interrupt_ids",
    "resume_interrupt_ids",
    "service_name",
    "scope_name",
    "environment",
    "session_original_id",
    "cost_input_usd",
    "cost_output_usd",
    "checkpoint_id",
    "session_meta",
    "content",
    "attributes",
    "events",
    "links",
)

_SCHEMA_V1: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS spans (
        trace_id             TEXT    NOT NULL,  -- 32 hex digits
        span_id              TEXT    NOT NULL,  -- 16 hex digits
        parent_span_id       TEXT,
        name                 TEXT    NOT NULL,
        kind                 TEXT,              -- threadline.span.kind: model, tool, node, graph ...
        span_kind            TEXT,              -- OpenTelemetry SpanKind: INTERNAL, CLIENT ...
        start_ns             INTEGER NOT NULL,  -- Unix nanoseconds
        end_ns               INTEGER,
        status_code          TEXT    NOT NULL,  -- UNSET | OK | ERROR
        status_message       TEXT,
        outcome              TEXT,              -- ok | error | interrupted | cancelled
        session_id           TEXT,
        user_id              TEXT,
        integration          TEXT,
        operation            TEXT,              -- gen_ai.operation.name
        model                TEXT,              -- response model, else request model
        provider             TEXT,
        input_tokens         INTEGER,           -- includes cached input
        output_tokens        INTEGER,           -- includes reasoning
        cache_read_tokens    INTEGER,
        cache_write_tokens   INTEGER,
        reasoning_tokens     INTEGER,
        total_tokens         INTEGER,
        cost_usd             REAL,
        usage_counted_in     TEXT,              -- span id carrying this call's usage (a nested SDK span)
        ttft_ms              REAL,
        is_resume            INTEGER NOT NULL DEFAULT 0,
        interrupt_ids        TEXT,              -- JSON array
        resume_interrupt_ids TEXT,              -- JSON array
        service_name         TEXT,
        scope_name           TEXT,
        attributes           TEXT    NOT NULL,  -- JSON object: every attribute
        events               TEXT,              -- JSON array or NULL
        links                TEXT               -- JSON array or NULL
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS spans_trace_span ON spans (trace_id, span_id)",
    "CREATE INDEX IF NOT EXISTS spans_session ON spans (session_id) WHERE session_id IS NOT NULL",
)
"""Version 1, as released: kept to describe what :data:`MIGRATIONS` upgrades (and for its tests)."""

_SPAN_COLUMNS_V2 = """
        environment          TEXT,              -- deployment.environment.name
        session_original_id  TEXT,              -- the raw session id before it was shortened
        cost_input_usd       REAL,
        cost_output_usd      REAL,
        checkpoint_id        TEXT,              -- LangGraph checkpoint a pause left / a resume started from
        session_meta         TEXT,              -- JSON [tags, metadata] of threadline.session(...), or NULL
        content              TEXT,              -- JSON: message lists moved to the content tables (store.content)
"""

# Rollups and content, the same in a new store and in a migrated one.
# The usage columns of every rollup table: tokens by kind and cost (with its input / output split).
_USAGE_COLUMNS = """input_tokens       INTEGER,
        output_tokens      INTEGER,
        cache_read_tokens  INTEGER,
        cache_write_tokens INTEGER,
        reasoning_tokens   INTEGER,
        total_tokens       INTEGER,
        cost_usd           REAL,
        cost_input_usd     REAL,
        cost_output_usd    REAL,"""

_SCHEMA_V2_TABLES: tuple[str, ...] = tuple(
    statement.replace("{usage}", _USAGE_COLUMNS)
    for statement in (
        """
    CREATE TABLE IF NOT EXISTS traces (
        trace_id           TEXT PRIMARY KEY,
        session_id         TEXT,
        root_span_id       TEXT,
        root_name          TEXT,
        root_outcome       TEXT,
        start_ns           INTEGER NOT NULL,
        end_ns             INTEGER,
        spans              INTEGER NOT NULL,
        error_spans        INTEGER NOT NULL,
        interrupted        INTEGER NOT NULL,
        outcome            TEXT    NOT NULL,    -- interrupted | error | cancelled | resumed | ok
        is_resume          INTEGER NOT NULL,
        users              TEXT,                -- JSON array, sorted
        models             TEXT,                -- JSON array, sorted
        {usage}
        ttfts              TEXT,                -- JSON array of the calls' time to first token (ms)
        model_usage        TEXT,                -- JSON {model: [in, out, cache read, cache write, reasoning, total,
                                                --               cost, input cost, output cost]}
        environment        TEXT,
        tags               TEXT,                -- JSON array, sorted
        metadata           TEXT,                -- JSON object
        original_id        TEXT,
        interrupt_ids      TEXT,                -- JSON array: interrupts this trace raised
        resume_interrupt_ids TEXT,              -- JSON array: interrupts this trace answers
        checkpoint_ids     TEXT                 -- JSON array: checkpoints paused at / resumed from
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS traces_session ON traces (session_id, start_ns) WHERE session_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns)",
        """
    CREATE TABLE IF NOT EXISTS sessions (
        session_id         TEXT PRIMARY KEY,
        first_start_ns     INTEGER NOT NULL,
        last_end_ns        INTEGER,
        active_ns          INTEGER NOT NULL,    -- last end, else first start: what --since compares
        traces             INTEGER NOT NULL,
        errors             INTEGER NOT NULL,
        interrupted        INTEGER NOT NULL,
        users              TEXT,
        models             TEXT,
        {usage}
        ttft_median_ms     REAL,
        environment        TEXT,                -- of the latest trace that has one
        tags               TEXT,                -- JSON array: the union over its traces
        metadata           TEXT,                -- JSON object of the latest trace that has metadata
        original_id        TEXT,                -- the raw id the user knows, when it was shortened
        ttfts              TEXT                 -- JSON array, sorted: what the median is taken over
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS sessions_last_end ON sessions (last_end_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_active ON sessions (active_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_first_start ON sessions (first_start_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_environment ON sessions (environment) WHERE environment IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS sessions_original ON sessions (original_id) WHERE original_id IS NOT NULL",
        """
    CREATE TABLE IF NOT EXISTS session_users (
        user_id    TEXT NOT NULL,
        session_id TEXT NOT NULL,
        PRIMARY KEY (user_id, session_id)
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS session_users_session ON session_users (session_id)",
        """
    CREATE TABLE IF NOT EXISTS session_models (
        session_id         TEXT NOT NULL,
        model              TEXT NOT NULL,
        calls              INTEGER NOT NULL,
        {usage}
        PRIMARY KEY (session_id, model)
    ) WITHOUT ROWID
    """,
        """
    CREATE TABLE IF NOT EXISTS scores (
        id          INTEGER PRIMARY KEY,
        target_kind TEXT    NOT NULL CHECK (target_kind IN ('trace', 'session')),
        target_id   TEXT    NOT NULL,            -- 32 hex digits for a trace; the session id
        name        TEXT    NOT NULL,
        value_num   REAL,                        -- a number; 1.0 / 0.0 for a boolean ...
        value_str   TEXT,                        -- ... or a category
        data_type   TEXT    NOT NULL CHECK (data_type IN ('numeric', 'boolean', 'categorical')),
        comment     TEXT,
        source      TEXT    NOT NULL,            -- code | annotation | eval | ...
        author      TEXT,
        created_at  REAL    NOT NULL,            -- Unix seconds
        CHECK ((value_num IS NULL) <> (value_str IS NULL))
    )
    """,
        "CREATE INDEX IF NOT EXISTS scores_target ON scores (target_kind, target_id)",
        # Content stored once: a message's text by hash, and message lists as shared prefixes
        # (list = parent list + one message), so a conversation's history is stored once.
        """
    CREATE TABLE IF NOT EXISTS messages (
        id   INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,              -- blake2b-128 of the text
        text TEXT NOT NULL
    )
    """,
        """
    CREATE TABLE IF NOT EXISTS message_lists (
        id      INTEGER PRIMARY KEY,
        parent  INTEGER NOT NULL,               -- 0 for a list's first message
        message INTEGER NOT NULL,
        UNIQUE (parent, message)
    )
    """,
    )
)

_SCHEMA_V2: tuple[str, ...] = (
    _SCHEMA_V1[0],
    _SCHEMA_V1[1].replace("        attributes ", _SPAN_COLUMNS_V2.lstrip("\n") + "        attributes ", 1),
    _SCHEMA_V1[2],
    *_SCHEMA_V2_TABLES,
)

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
    from threadline.store import rollups  # rollups imports this module

    for name, kind in _V1_TO_V2_COLUMNS:
        conn.execute(f"ALTER TABLE spans ADD COLUMN {name} {kind}")
    conn.execute("DROP INDEX IF EXISTS spans_session")
    for statement in _SCHEMA_V2_TABLES:
        conn.execute(statement)
    rollups.backfill_span_columns(conn)
    rollups.rebuild(conn)


def _schema_v3_additions() -> tuple[str, ...]:
    """What v3 adds: the full-text index (store.search) and the traces page's indexes (store.trace_list)."""
    from threadline.store import search, trace_list  # they import this module

    return (*search.SCHEMA, *trace_list.SCHEMA)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """v2 -> v3: the full-text search index, back-filled from the stored spans; indexes for the traces page."""
    from threadline.store import search

    for statement in _schema_v3_additions():
        conn.execute(statement)
    search.backfill(conn)


# MIGRATIONS[n] upgrades a version-n store to version n + 1, inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_v1, 2: _migrate_v2}


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
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = _tables(conn)
            version = _check_meta(path, tables, conn)
            if version is None:
                for statement in (*_SCHEMA_V2, *_schema_v3_additions()):
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
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

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
