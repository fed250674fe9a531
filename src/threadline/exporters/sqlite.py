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
import operator
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from datetime import timedelta
from itertools import compress
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from threadline import semconv as sc
from threadline.store import content as store_content
from threadline.store import lifecycle, rollups
from threadline.store.rollup_rows import TRACE_INPUT
from threadline.store.schema import SPAN_COLUMNS, StoreError, open_store, resolve_path, retry_locked

__all__ = ["SQLiteSpanExporter", "StoreError", "promoted_from_attributes", "span_row"]

logger = logging.getLogger("threadline")

# Rows per INSERT statement. ``executemany`` steps the statement once per row and
# releases the GIL around each step; next to a CPU-bound application thread the
# export thread then waits for the GIL on every row and falls behind until the
# batch queue drops spans. One multi-row statement per 64 rows takes the GIL
# 64 times less often (measured: ~100 -> ~4,000 spans/s beside a busy thread).
ROWS_PER_STATEMENT = 64
RETENTION_ENV_VAR = "THREADLINE_RETENTION"

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
# What _ENCODER.encode() runs, built once: encode() builds it again for every value (a third of a
# small value's cost). No circular check: attribute values are primitives and sequences of them.
_C_ENCODE = (
    json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if json.encoder.c_make_encoder is not None
    else None
)


def _dumps(value: Any) -> str:
    """Compact JSON that SQLite's JSON functions accept (no NaN / Infinity)."""
    try:
        if _C_ENCODE is not None:
            return "".join(_C_ENCODE(value, 0))
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
    if value is None:
        return None
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


_METADATA_PREFIX_LEN = len(sc.METADATA_PREFIX)
_is_metadata = operator.methodcaller("startswith", sc.METADATA_PREFIX)


def _session_meta(attrs: dict[str, Any]) -> str | None:
    """JSON ``[tags, metadata]`` of the span's ``threadline.session(...)``, or ``None`` without either."""
    tags = attrs.get(sc.TAGS)
    keys = list(filter(_is_metadata, attrs))  # in C: this runs for every span
    metadata = {k[_METADATA_PREFIX_LEN:]: attrs[k] for k in keys}
    if not tags and not metadata:
        return None
    if isinstance(tags, (list, tuple)):
        tags = [str(t) for t in tags]
    elif tags is not None:
        tags = [str(tags)]
    return _dumps([tags or [], metadata])


def promoted_from_attributes(attrs: dict[str, Any]) -> tuple[Any, ...]:
    """The span columns schema v2 added, from a span's attributes.

    (environment, session original id, input cost, output cost, checkpoint id, session meta)
    """
    get = attrs.get
    return (
        _str(get(sc.DEPLOYMENT_ENVIRONMENT)),
        _str(get(sc.SESSION_ID_ORIGINAL)),
        _float(get(sc.COST_INPUT)),
        _float(get(sc.COST_OUTPUT)),
        _str(get(sc.GRAPH_CHECKPOINT_ID) or get(sc.RESUME_CHECKPOINT_ID)),
        _session_meta(attrs),
    )


_CONTENT_NAMES = frozenset(store_content.CONTENT_ATTRIBUTES)
_CONTENT_INDEX = SPAN_COLUMNS.index("content")
_ENVIRONMENT_INDEX = SPAN_COLUMNS.index("environment")


def _encode(
    span: ReadableSpan, resources: _ResourceNames | None = None, *, splitter: store_content.Splitter | None = None
) -> tuple[list[Any], dict[str, store_content.Pending] | None]:
    """The ``spans`` row of one finished span (its ``content`` still to resolve) and its pending message lists."""
    ctx = span.context
    attrs = _without_mirrors(_copy_attributes(span.attributes))
    get = attrs.get
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    start = span.start_time
    model = get(sc.GEN_AI_RESPONSE_MODEL) or get(sc.GEN_AI_REQUEST_MODEL)
    resource = span.resource
    pending: dict[str, store_content.Pending] | None = None
    if splitter is not None and not _CONTENT_NAMES.isdisjoint(attrs):
        for name in store_content.CONTENT_ATTRIBUTES:
            found = splitter.split(get(name))
            if found is not None:
                if pending is None:
                    pending = {}
                pending[name] = found
                del attrs[name]
    row = [
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
        (resources or _ResourceNames()).get(resource),
        scope.name if scope is not None else None,
        *promoted_from_attributes(attrs),
        None,  # content: filled in by the write transaction
        _dumps(attrs),
        _events_json(span.events),
        _links_json(span.links),
    ]
    if row[_ENVIRONMENT_INDEX] is None and resource is not None:
        row[_ENVIRONMENT_INDEX] = _str(resource.attributes.get(sc.DEPLOYMENT_ENVIRONMENT))
    return row, pending


def span_row(span: ReadableSpan, _resources: _ResourceNames | None = None) -> tuple[Any, ...]:
    """The ``spans`` row of one finished span, in :data:`SPAN_COLUMNS` order (content kept inline)."""
    return tuple(_encode(span, _resources)[0])


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


# Page cache of the writing connection: a large store's indexes (random trace ids) stay in memory.
WRITER_CACHE_KIB = 16 * 1024


def _writer(path: Path) -> sqlite3.Connection:
    conn = open_store(path, create=True)
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
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
            else keep everything.

    Raises:
        StoreError: the file at ``path`` exists but is not a threadline store
            (corrupted, not SQLite, or another application's database), or it
            was written by a newer threadline.
    """

    local = True  # written on this machine: threadline's batch processor sends it small, frequent batches
    logs_its_failures = True  # it says why it failed, once per cause; the safe wrapper only counts

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, retention: str | float | timedelta | None = None
    ) -> None:
        self.path: Path = resolve_path(path)
        if retention is None:
            retention = os.environ.get(RETENTION_ENV_VAR) or None
        # Validated here, so that a bad setting fails at instrument() rather than later in the background.
        self._retention = lifecycle.Retention(self.path, retention) if retention is not None else None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = _writer(self.path)
        self._identity = _identity(self.path)
        self._reported: set[str] = set()
        self._pid = os.getpid()
        self._closed = False
        self._stale: list[sqlite3.Connection] = []
        self._resources = _ResourceNames()
        self._content = store_content.ContentWriter()
        self._splitter = store_content.Splitter()
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
        """Store ``spans`` and their rollups in one transaction; FAILURE (logged, never raised) if impossible."""
        if not spans:
            return SpanExportResult.SUCCESS
        encoded: list[tuple[list[Any], dict[str, store_content.Pending] | None]] = []
        for span in spans:
            try:
                encoded.append(_encode(span, self._resources, splitter=self._splitter))
            except Exception:
                logger.warning("threadline: could not encode span %r for the store; skipped", span.name, exc_info=True)
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                conn = self._connection()
                try:
                    retry_locked(lambda: self._write(conn, encoded))
                except UnicodeEncodeError:
                    # Text with a lone surrogate (from a lenient decoder) cannot be stored as UTF-8:
                    # store it with U+FFFD in its place rather than lose the whole batch.
                    clean = [(list(_encodable_row(tuple(row))), None) for row, _ in self._inline(encoded, spans)]
                    retry_locked(lambda: self._write(conn, clean))
            except sqlite3.OperationalError as exc:
                self._failed(exc, len(encoded))
                return SpanExportResult.FAILURE
            except Exception:
                self._report(
                    "error", "threadline: could not write %d spans to %s", len(encoded), self.path, exc_info=True
                )
                return SpanExportResult.FAILURE
        if self._retention is not None:
            self._retention.maybe_run()
        return SpanExportResult.SUCCESS

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

    def _inline(
        self, encoded: list[tuple[list[Any], Any]], spans: Sequence[ReadableSpan]
    ) -> list[tuple[list[Any], None]]:
        """The batch encoded again with every captured value kept inline (no content split)."""
        out: list[tuple[list[Any], None]] = []
        for span in spans:
            try:
                out.append((_encode(span, self._resources)[0], None))
            except Exception:  # noqa: BLE001 - already logged by export()
                continue
        return out

    def _write(self, conn: sqlite3.Connection, encoded: list[tuple[list[Any], Any]]) -> None:
        # IMMEDIATE takes the write lock up front, so waiting happens in the busy
        # handler rather than as a "locked" error when a read upgrades to a write.
        conn.execute("BEGIN IMMEDIATE")
        try:
            writer = self._content
            writer.begin(conn)
            rows = []
            for row, pending in encoded:
                if pending:
                    row[_CONTENT_INDEX] = _dumps({name: writer.reference(conn, p) for name, p in pending.items()})
                rows.append(tuple(row))
            for shape, values in group_by_shape(rows).items():
                for start in range(0, len(values), ROWS_PER_STATEMENT):
                    part = values[start : start + ROWS_PER_STATEMENT]
                    conn.execute(_insert_for(shape, len(part)), [value for row in part for value in row])
            rollups.refresh(conn, {row[0] for row in rows}, _trace_inputs(rows))
            conn.execute("COMMIT")
        except BaseException:
            self._content.rolled_back()
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
