"""The embedded store: finished spans into a local SQLite file the CLI reads.

>>> threadline.instrument()                                   # the default
>>> threadline.instrument(exporter=SQLiteSpanExporter("traces.db"))

The path is the argument, else ``$THREADLINE_DB``, else
``.threadline/traces.db`` under the working directory. The file is opened and
validated when the exporter is built, so a file that is not a threadline
store fails there with :class:`~threadline.store.schema.StoreError`, never by
silently losing spans. Each batch (encoded on the batch processor's thread) is
written with multi-row ``INSERT`` statements in one transaction; several processes
may write the same file at once (WAL, a busy timeout and retries on "database is locked").
"""

from __future__ import annotations

import logging
import operator
import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from datetime import timedelta
from itertools import compress, repeat
from operator import is_not
from pathlib import Path
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from threadline.exporters._safe import count_dropped
from threadline.store import batched, lifecycle, rollups, search_index  # batched: why multi-row statements
from threadline.store import content as store_content
from threadline.store.rollup_rows import TRACE_INPUT
from threadline.store.schema import SPAN_COLUMNS, StoreError, open_store, resolve_path, retry_locked, write_transaction
from threadline.store.scores import ScoreRow, insert_rows, partition_scores
from threadline.store.span_rows import (
    CONTENT_INDEX,
    ResourceNames,
    dumps,
    encodable_row,
    encode,
    promoted_from_attributes,
    span_row,
)

__all__ = ["SQLiteSpanExporter", "StoreError", "promoted_from_attributes", "span_row"]

logger = logging.getLogger("threadline")

RETENTION_ENV_VAR = "THREADLINE_RETENTION"

_insert_head_by_shape: dict[tuple[bool, ...], tuple[str, int]] = {}


def _insert_for(shape: tuple[bool, ...], rows: int = 1) -> str:
    """The INSERT of ``rows`` rows naming only the columns present in ``shape`` (its head cached per shape)."""
    found = _insert_head_by_shape.get(shape)
    if found is None:
        columns = list(compress(SPAN_COLUMNS, shape))
        found = (f"INSERT OR IGNORE INTO spans ({', '.join(columns)}) VALUES", len(columns))
        if len(_insert_head_by_shape) < 256:
            _insert_head_by_shape[shape] = found
    head, width = found
    return f"{head} {batched.value_rows(width, rows)}"


def group_by_shape(rows: Sequence[Sequence[Any]]) -> dict[tuple[bool, ...], list[tuple[Any, ...]]]:
    """Rows keyed by which columns are not NULL, each row reduced to those columns.

    CPython's sqlite3 binds ``None`` slowly (an adapter lookup that raises and
    clears an AttributeError, ~1 µs per parameter); most span columns are NULL,
    so leaving them out of the statement roughly doubles insert throughput.
    """
    groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
    nones = repeat(None)
    for row in rows:
        shape = tuple(map(is_not, row, nones))
        values = tuple(compress(row, shape))
        group = groups.get(shape)
        if group is None:
            groups[shape] = [values]
        else:
            group.append(values)
    return groups


_TRACE_INPUT_OF = operator.itemgetter(*(SPAN_COLUMNS.index(name) for name in TRACE_INPUT))


def _trace_inputs(rows: Sequence[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rollup inputs of the batch's span rows, by trace (a trace with a span id twice is left out: read back)."""
    by_trace: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_trace.setdefault(row[0], []).append(_TRACE_INPUT_OF(row))
    for trace_id, inputs in list(by_trace.items()):
        if len({s[0] for s in inputs}) != len(inputs):
            del by_trace[trace_id]
    return by_trace


def _fits(row: Sequence[Any]) -> bool:
    """True when every integer of ``row`` fits SQLite's signed 64 bits."""
    return all(-(2**63) <= v < 2**63 for v in row if v.__class__ is int)


# Below this, SQLite gives a new row the table's largest rowid + 1 (above it, a random unused one).
_SEQUENTIAL_ROWIDS = 2**62


def _note_rowids(rowids: dict[tuple[str, str], int], part: Sequence[tuple[Any, ...]], cursor: sqlite3.Cursor) -> None:
    """Record the rowids one multi-row INSERT gave ``part`` (trace id, span id first in each row).

    With every row inserted (none ignored as a duplicate) and the write lock held, the
    statement's rows took consecutive rowids ending at ``lastrowid``; otherwise nothing
    is recorded and the search indexer looks those rows up.
    """
    last = cursor.lastrowid
    if cursor.rowcount != len(part) or last is None or last >= _SEQUENTIAL_ROWIDS:
        return
    first = last - len(part) + 1
    for offset, row in enumerate(part):
        rowids[row[0], row[1]] = first + offset


# Page cache of the writing connection: a large store's indexes (random trace ids) stay in memory.
WRITER_CACHE_KIB = 16 * 1024
# WAL pages between checkpoints (SQLite's default: 1,000). A batch rewrites the same index and rollup
# pages as the one before it; a checkpoint copies each page once however often it was rewritten, so
# fewer, larger checkpoints copy less (measured: commit ~12 -> ~10 CPU µs a span; the WAL file grows
# to ~16 MiB instead of ~4 MiB).
WRITER_CHECKPOINT_PAGES = 4096


def _writer(path: Path) -> sqlite3.Connection:
    conn = open_store(path, create=True)
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
    return conn


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; ``None`` when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SQLiteSpanExporter(SpanExporter):
    """Writes finished spans to the threadline SQLite store (the CLI's source).

    Args:
        path: the database file; the argument wins over ``$THREADLINE_DB``,
            which wins over ``.threadline/traces.db`` under the cwd.
        retention: keep sessions active within this long (``"30d"``, ``"12h"``,
            a ``timedelta``, or a number of days); older ones are pruned in a
            background thread, at most once an hour. Default ``$THREADLINE_RETENTION``,
            else keep everything; ``False`` keeps everything whatever the variable says.

    Raises:
        StoreError: the file at ``path`` exists but is not a threadline store
            (corrupted, not SQLite, or another application's database), or it
            was written by a newer threadline.
    """

    local = True  # written on this machine: threadline's batch processor sends it small, frequent batches
    logs_its_failures = True  # it says why it failed, once per cause; the safe wrapper only counts

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention: str | float | timedelta | Literal[False] | None = None,
    ) -> None:
        self.path: Path = resolve_path(path)
        if retention is None:
            retention = os.environ.get(RETENTION_ENV_VAR) or None
        # Validated here, so that a bad setting fails at instrument() rather than later in the background.
        keep = retention is not None and retention is not False
        self._retention = lifecycle.Retention(self.path, retention) if keep else None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = _writer(self.path)
        self._identity = _identity(self.path)
        self._reported: set[str] = set()
        self._pid = os.getpid()
        self._closed = False
        self._stale: list[sqlite3.Connection] = []
        self._resources = ResourceNames()
        self._content = store_content.ContentWriter()
        self._splitter = store_content.Splitter()
        self._search = search_index.Indexer()
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (method := reinit()) is not None and method())

    def _after_fork_in_child(self) -> None:
        # A fork while the batch thread held the lock would leave it held forever in the child.
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None and self._pid == os.getpid() and _identity(self.path) != self._identity:
            # The file was deleted (or replaced) under us: SQLite would go on writing to the
            # unlinked inode and every span would vanish. Start a new store at the path.
            self._report(
                "deleted",
                "threadline: the store %s was deleted or replaced while this process was writing to it; "
                "writing to a new store there",
                self.path,
            )
            self._stale.append(conn)
            conn = self._conn = None
        if conn is None or self._pid != os.getpid():
            if conn is not None:
                # Inherited across fork: SQLite connections must not be used (nor
                # closed, which could drop the parent's locks) in the child.
                self._stale.append(conn)
            conn = self._conn = _writer(self.path)
            self._identity = _identity(self.path)
            self._pid = os.getpid()
        return conn

    def _report(self, cause: str, message: str, *args: Any, exc_info: bool = False) -> None:
        """Log ``message`` the first time ``cause`` happens; later ones are only counted (by the safe wrapper)."""
        if cause in self._reported:
            logger.debug(message, *args)
            return
        self._reported.add(cause)
        logger.warning(message, *args, exc_info=exc_info)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store ``spans`` and their rollups in one transaction; FAILURE (logged, never raised) if impossible.

        A span that cannot be stored (it cannot be encoded, or carries a time beyond 64 bits) is
        left out alone, logged once and counted as dropped; the rest of the batch is stored.
        """
        if not spans:
            return SpanExportResult.SUCCESS
        scores, spans = partition_scores(spans)  # threadline.score spans go to the scores table, not spans
        encoded: list[tuple[list[Any], dict[str, store_content.Pending] | None, dict[str, Any]]] = []
        encodable: list[ReadableSpan] = []  # the spans of ``encoded``, in order
        for span in spans:
            try:
                encoded.append(encode(span, self._resources, splitter=self._splitter))
                encodable.append(span)
            except Exception:
                self._report("encode", "threadline: could not encode span %r for the store", span.name, exc_info=True)
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                left_out = self._store(self._connection(), encoded, encodable, scores)
            except sqlite3.OperationalError as exc:
                self._failed(exc, len(encoded))
                return SpanExportResult.FAILURE
            except Exception:
                self._report(
                    "error", "threadline: could not write %d spans to %s", len(encoded), self.path, exc_info=True
                )
                return SpanExportResult.FAILURE
        # Counted once the rest is written (a batch that fails as a whole is counted by the safe wrapper).
        if len(spans) - len(encoded) + left_out:
            count_dropped(self, len(spans) - len(encoded) + left_out, "spans the store could not hold")
        if self._retention is not None:
            self._retention.maybe_run()
        return SpanExportResult.SUCCESS

    def _store(
        self,
        conn: sqlite3.Connection,
        encoded: list[tuple[list[Any], Any, Any]],
        spans: Sequence[ReadableSpan],
        scores: Sequence[ScoreRow],
    ) -> int:
        """Write the batch, working around what SQLite refuses in single spans; the spans left out."""
        rows: Sequence[Any] = encoded
        fixed: set[str] = set()
        left_out = 0
        while True:
            try:
                retry_locked(lambda rows=rows: self._write(conn, rows, scores))
                return left_out
            except UnicodeEncodeError:
                if "text" in fixed:
                    raise
                fixed.add("text")
                # Text with a lone surrogate (from a lenient decoder) cannot be stored as UTF-8:
                # store it with U+FFFD in its place rather than lose the whole batch.
                rows = [(list(encodable_row(tuple(row))), None) for row, _ in self._inline(spans)]
                if "numbers" in fixed:
                    rows = [item for item in rows if _fits(item[0])]
            except OverflowError:
                fitting = [item for item in rows if _fits(item[0])]
                if "numbers" in fixed or len(fitting) == len(rows):
                    raise  # not a single span's number (a sum, say): the batch fails as a whole
                fixed.add("numbers")
                left_out += len(rows) - len(fitting)
                self._report(
                    "overflow",
                    "threadline: %d span(s) carry a time or number beyond 64 bits and are not stored",
                    len(rows) - len(fitting),
                )
                rows = fitting

    def _failed(self, exc: sqlite3.OperationalError, count: int) -> None:
        text = str(exc).lower()
        if "full" in text:
            self._report(
                "full",
                "threadline: the disk holding %s is full (%s); spans are dropped and counted "
                "(threadline.flush() returns False) until there is space again",
                self.path,
                exc,
            )
        elif "readonly" in text or "read-only" in text:
            self._report(
                "readonly", "threadline: cannot write to %s (%s); spans are dropped and counted", self.path, exc
            )
        else:
            self._report("sqlite", "threadline: could not write %d spans to %s", count, self.path, exc_info=True)

    def _inline(self, spans: Sequence[ReadableSpan]) -> list[tuple[list[Any], None]]:
        """The batch encoded again with every captured value kept inline (no content split)."""
        out: list[tuple[list[Any], None]] = []
        for span in spans:
            try:
                out.append((encode(span, self._resources)[0], None))
            except Exception:  # noqa: BLE001 - already logged by export()
                continue
        return out

    def _write(
        self, conn: sqlite3.Connection, encoded: Sequence[Sequence[Any]], scores: Sequence[ScoreRow] = ()
    ) -> None:
        try:
            with write_transaction(conn):
                self._write_batch(conn, encoded, scores)
        except BaseException:  # what the caches remembered of this transaction was never written
            self._content.rolled_back()
            self._search.rolled_back()
            raise

    def _write_batch(
        self, conn: sqlite3.Connection, encoded: Sequence[Sequence[Any]], scores: Sequence[ScoreRow]
    ) -> None:
        """The batch's statements, inside :meth:`_write`'s transaction."""
        writer = self._content
        writer.begin(conn)
        writer.prepare(conn, [p for _, pending, *_ in encoded if pending for p in pending.values()])
        rows = []
        for row, pending, *_ in encoded:
            if pending:
                row[CONTENT_INDEX] = dumps({name: writer.reference(conn, p) for name, p in pending.items()})
            rows.append(row)
        writer.flush(conn)
        rowids: dict[tuple[str, str], int] = {}
        for shape, values in group_by_shape(rows).items():
            for part in batched.parts(values):
                cursor = conn.execute(_insert_for(shape, len(part)), [value for row in part for value in row])
                _note_rowids(rowids, part, cursor)
        rollups.refresh(conn, {row[0] for row in rows}, _trace_inputs(rows))
        insert_rows(conn, scores)
        self._search.index(conn, encoded, rowids)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here: every export is committed before it returns."""
        return True

    def shutdown(self) -> None:
        """Close the database; later exports fail."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                try:
                    conn.close()
                except sqlite3.Error:
                    logger.warning("threadline: closing %s failed", self.path, exc_info=True)

    def __repr__(self) -> str:
        return f"SQLiteSpanExporter(path={str(self.path)!r})"
