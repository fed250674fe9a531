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

import json
import logging
import math
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from itertools import compress
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from threadline import semconv as sc
from threadline.store.schema import SPAN_COLUMNS, StoreError, open_store, resolve_path, retry_locked
from threadline.store.scores import ScoreRow, ensure_table, insert_rows, partition_scores

__all__ = ["SQLiteSpanExporter", "StoreError", "span_row"]

logger = logging.getLogger("threadline")

# Rows per INSERT statement. ``executemany`` steps the statement once per row and
# releases the GIL around each step; next to a CPU-bound application thread the
# export thread then waits for the GIL on every row and falls behind until the
# batch queue drops spans. One multi-row statement per 64 rows takes the GIL
# 64 times less often (measured: ~100 -> ~4,000 spans/s beside a busy thread).
ROWS_PER_STATEMENT = 64

_insert_by_shape: dict[tuple[tuple[bool, ...], int], str] = {}


def _insert_for(shape: tuple[bool, ...], rows: int = 1) -> str:
    """The INSERT of ``rows`` rows naming only the columns present in ``shape`` (cached)."""
    key = (shape, rows)
    sql = _insert_by_shape.get(key)
    if sql is None:
        columns = list(compress(SPAN_COLUMNS, shape))
        one = f"({', '.join('?' for _ in columns)})"
        sql = f"INSERT OR IGNORE INTO spans ({', '.join(columns)}) VALUES {', '.join([one] * rows)}"
        if len(_insert_by_shape) < 1024:
            _insert_by_shape[key] = sql
    return sql


def group_by_shape(rows: Sequence[tuple[Any, ...]]) -> dict[tuple[bool, ...], list[tuple[Any, ...]]]:
    """Rows keyed by which columns are not NULL, each row reduced to those columns.

    CPython's sqlite3 binds ``None`` slowly (an adapter lookup that raises and
    clears an AttributeError, ~1 µs per parameter); most span columns are NULL,
    so leaving them out of the statement roughly doubles insert throughput.
    """
    groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        shape = tuple([v is not None for v in row])
        values = tuple(compress(row, shape))
        group = groups.get(shape)
        if group is None:
            groups[shape] = [values]
        else:
            group.append(values)
    return groups


_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def _dumps(value: Any) -> str:
    """Compact JSON that SQLite's JSON functions accept (no NaN / Infinity)."""
    try:
        return _ENCODER.encode(value)
    except ValueError:
        return _ENCODER.encode(_finite(value))


def _int(value: Any) -> int | None:
    if value is None or value.__class__ is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _str(value: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return str(value)


def _json_list(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return _dumps(list(value))
    return _dumps([value])


_MIRROR_NAMES = frozenset(sc.MIRRORS)


def _without_mirrors(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` without the names that only repeat another's value (see :data:`semconv.MIRRORS`).

    The store keeps one copy: on a model span the mirrors are about 40 % of the
    attribute JSON, which is most of what encoding and writing a span costs.
    """
    get = attrs.get
    for mirror in attrs.keys() & _MIRROR_NAMES:
        value = attrs[mirror]
        for source in sc.MIRRORS[mirror]:
            if get(source) == value:
                del attrs[mirror]
                break
    return attrs


def _copy_attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    try:
        copied = attributes.copy()  # BoundedAttributes.copy(): a plain dict, ~10x faster than dict(proxy)
    except AttributeError:
        copied = None
    return copied if type(copied) is dict else dict(attributes)


class _ResourceNames:
    """``service.name`` of the last resource seen (a provider has one resource)."""

    __slots__ = ("resource", "name")

    def __init__(self) -> None:
        self.resource: Any = None
        self.name: str | None = None

    def get(self, resource: Any) -> str | None:
        if resource is None:
            return None
        if resource is not self.resource:
            self.name = _str(resource.attributes.get(SERVICE_NAME))
            self.resource = resource
        return self.name


def _events_json(events: Sequence[Any]) -> str | None:
    if not events:
        return None
    return _dumps(
        [{"name": e.name, "time_ns": e.timestamp, "attributes": _copy_attributes(e.attributes)} for e in events]
    )


def _links_json(links: Sequence[Any]) -> str | None:
    if not links:
        return None
    return _dumps(
        [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": _copy_attributes(link.attributes),
            }
            for link in links
        ]
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    if value.__class__ is not str or value.isascii():
        return value
    return _SURROGATE.sub("\ufffd", value)


def _encodable_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with every text made encodable as UTF-8 (lone surrogates replaced)."""
    return tuple(_encodable(v) for v in row)


def span_row(span: ReadableSpan, _resources: _ResourceNames | None = None) -> tuple[Any, ...]:
    """The ``spans`` row of one finished span, in :data:`SPAN_COLUMNS` order."""
    ctx = span.context
    attrs = _copy_attributes(span.attributes)
    get = attrs.get
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    start = span.start_time
    model = get(sc.GEN_AI_RESPONSE_MODEL) or get(sc.GEN_AI_REQUEST_MODEL)
    resource = span.resource
    return (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None else None,
        span.name,
        _str(get(sc.SPAN_KIND)),
        span.kind.name,
        start if start is not None else 0,
        span.end_time,
        _STATUS.get(status.status_code, "UNSET"),
        status.description,
        _str(get(sc.OUTCOME)),
        _str(get(sc.SESSION_ID)),
        _str(get(sc.USER_ID)),
        _str(get(sc.INTEGRATION)),
        _str(get(sc.GEN_AI_OPERATION_NAME)),
        _str(model),
        _str(get(sc.GEN_AI_PROVIDER_NAME)),
        _int(get(sc.GEN_AI_USAGE_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_TOTAL_TOKENS)),
        _float(get(sc.GEN_AI_USAGE_COST)),
        _str(get(sc.USAGE_COUNTED_IN)),
        _float(get(sc.TIME_TO_FIRST_TOKEN)),
        1 if get(sc.RESUME) else 0,
        _json_list(get(sc.INTERRUPT_IDS)),
        _json_list(get(sc.RESUME_INTERRUPT_IDS)),
        (_resources or _ResourceNames()).get(resource),
        scope.name if scope is not None else None,
        _dumps(_without_mirrors(attrs)),
        _events_json(span.events),
        _links_json(span.links),
    )


def _open(path: Path) -> sqlite3.Connection:
    conn = open_store(path, create=True)
    ensure_table(conn)
    return conn


class SQLiteSpanExporter(SpanExporter):
    """Writes finished spans to the threadline SQLite store (the CLI's source).

    Args:
        path: the database file; the argument wins over ``$THREADLINE_DB``,
            which wins over ``.threadline/traces.db`` under the cwd.

    Raises:
        StoreError: the file at ``path`` exists but is not a threadline store
            (corrupted, not SQLite, or another application's database), or it
            was written by a newer threadline.
    """

    local = True  # written on this machine: threadline's batch processor sends it small, frequent batches

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path = resolve_path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = _open(self.path)
        self._pid = os.getpid()
        self._closed = False
        self._stale: list[sqlite3.Connection] = []
        self._resources = _ResourceNames()
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (method := reinit()) is not None and method())

    def _after_fork_in_child(self) -> None:
        # A fork while the batch thread held the lock would leave it held forever in the child.
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None or self._pid != os.getpid():
            if conn is not None:
                # Inherited across fork: SQLite connections must not be used (nor
                # closed, which could drop the parent's locks) in the child.
                self._stale.append(conn)
            conn = self._conn = _open(self.path)
            self._pid = os.getpid()
        return conn

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Store ``spans`` in one transaction; FAILURE (logged, never raised) if that is impossible."""
        if not spans:
            return SpanExportResult.SUCCESS
        scores, spans = partition_scores(spans)  # threadline.score spans go to the scores table
        rows: list[tuple[Any, ...]] = []
        for span in spans:
            try:
                rows.append(span_row(span, self._resources))
            except Exception:
                logger.warning("threadline: could not encode span %r for the store; skipped", span.name, exc_info=True)
        groups = group_by_shape(rows)
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                conn = self._connection()
                try:
                    retry_locked(lambda: self._write(conn, groups, scores))
                except UnicodeEncodeError:
                    # Text with a lone surrogate (from a lenient decoder) cannot be stored as UTF-8:
                    # store it with U+FFFD in its place rather than lose the whole batch.
                    clean = group_by_shape([_encodable_row(row) for row in rows])
                    retry_locked(lambda: self._write(conn, clean, scores))
            except Exception:
                logger.warning("threadline: could not write %d spans to %s", len(rows), self.path, exc_info=True)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    @staticmethod
    def _write(
        conn: sqlite3.Connection,
        groups: dict[tuple[bool, ...], list[tuple[Any, ...]]],
        scores: Sequence[ScoreRow] = (),
    ) -> None:
        # IMMEDIATE takes the write lock up front, so waiting happens in the busy
        # handler rather than as a "locked" error when a read upgrades to a write.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for shape, values in groups.items():
                for start in range(0, len(values), ROWS_PER_STATEMENT):
                    part = values[start : start + ROWS_PER_STATEMENT]
                    conn.execute(_insert_for(shape, len(part)), [value for row in part for value in row])
            insert_rows(conn, scores)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

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
