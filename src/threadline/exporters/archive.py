"""Read back what ``threadline export session`` wrote: its JSON lines into a store, as spans again.

>>> from threadline.exporters.archive import import_lines
>>> with open("chat.jsonl", encoding="utf-8") as f:
...     result = import_lines("traces.db", f)

Each span line becomes an OpenTelemetry span again and goes through
:class:`~threadline.exporters.sqlite.SQLiteSpanExporter`, so the store derives
everything it derives from live spans (rollups, content stored once, the
search index) the same way. Score lines (``{"score": {...}}``) go back to the
scores table once the spans are in. A span or score already in the store is
kept as it is, so importing a file twice changes nothing. A line that is
neither is skipped, counted, and named in :attr:`ImportResult.reasons`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store.batched import in_lists
from threadline.store.reading import reading
from threadline.store.schema import connection, write_transaction
from threadline.store.scores import ScoreRow, build_row, insert_rows, target_exists

__all__ = ["ImportResult", "import_lines", "score_from_record", "span_from_record"]

BATCH = 512  # spans a transaction, as the batch processor sends them
_MAX_NAMED = 5  # skipped lines named in the result (all are counted)
_HEX = frozenset("0123456789abcdef")


@dataclass
class ImportResult:
    """What :func:`import_lines` read: spans read, spans new to the store, lines skipped (the first named)."""

    spans: int = 0
    added: int = 0
    scores: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def skip(self, line_number: int, why: str) -> None:
        """Count a skipped line; the first few are named."""
        self.skipped += 1
        if len(self.reasons) < _MAX_NAMED:
            self.reasons.append(f"line {line_number}: {why}")


class _Resources:
    """One Resource per (service, environment), so the encoder reads each once."""

    def __init__(self) -> None:
        self._made: dict[tuple[str | None, str | None], Resource] = {}

    def get(self, service: str | None, environment: str | None) -> Resource:
        key = (service, environment)
        resource = self._made.get(key)
        if resource is None:
            attributes = {SERVICE_NAME: service} if service else {}
            if environment:
                attributes[sc.DEPLOYMENT_ENVIRONMENT] = environment
            resource = self._made[key] = Resource(attributes)
        return resource


def _hex_id(value: Any, digits: int, what: str) -> int:
    if not isinstance(value, str) or len(value) != digits or not _HEX.issuperset(value) or not value.strip("0"):
        raise ValueError(f"{what} is not {digits} hex digits")
    return int(value, 16)


def _is_ns(value: Any) -> bool:
    """A time the store can hold: Unix nanoseconds in a signed 64-bit integer."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _event_time(event: dict[str, Any]) -> int:
    value = event.get("time_ns")
    if not _is_ns(value):
        raise ValueError("an event's time_ns is not a time in nanoseconds")
    return int(value)


def _attributes(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    # An attribute sequence comes back from JSON as a list; OpenTelemetry keeps tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def span_from_record(record: dict[str, Any], resources: _Resources | None = None) -> ReadableSpan:
    """The span one exported line describes; ``ValueError`` naming what is wrong with it."""
    trace_id = _hex_id(record.get("trace_id"), 32, "trace_id")
    span_id = _hex_id(record.get("span_id"), 16, "span_id")
    name, start = record.get("name"), record.get("start_ns")
    if not isinstance(name, str):
        raise ValueError("name is not text")
    if not _is_ns(start):
        raise ValueError("start_ns is not a time in nanoseconds")
    end = record.get("end_ns")
    if end is not None and not _is_ns(end):
        raise ValueError("end_ns is not a time in nanoseconds")
    parent_id = record.get("parent_span_id")
    parent = (
        SpanContext(trace_id, _hex_id(parent_id, 16, "parent_span_id"), is_remote=False)
        if parent_id is not None
        else None
    )
    attributes = _attributes(record.get("attributes"), "attributes")
    code = StatusCode.__members__.get(str(record.get("status_code")), StatusCode.UNSET)
    message = record.get("status_message")
    events = [
        Event(str(e.get("name")), _attributes(e.get("attributes"), "an event's attributes"), _event_time(e))
        for e in record.get("events") or ()
        if isinstance(e, dict)
    ]
    links = [
        Link(
            SpanContext(
                _hex_id(k.get("trace_id"), 32, "a link's trace_id"),
                _hex_id(k.get("span_id"), 16, "a link's span_id"),
                is_remote=False,
            ),
            _attributes(k.get("attributes"), "a link's attributes"),
        )
        for k in record.get("links") or ()
        if isinstance(k, dict)
    ]
    scope = record.get("scope_name")
    environment = None if sc.DEPLOYMENT_ENVIRONMENT in attributes else record.get("environment")
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=parent,
        resource=(resources or _Resources()).get(record.get("service_name"), environment),
        attributes=attributes,
        events=events,
        links=links,
        kind=SpanKind.__members__.get(str(record.get("span_kind")), SpanKind.INTERNAL),
        # A description goes with an error only (OpenTelemetry drops it otherwise, with a warning).
        status=Status(code, message if code is StatusCode.ERROR and isinstance(message, str) else None),
        start_time=start,
        end_time=end,
        instrumentation_scope=InstrumentationScope(scope) if isinstance(scope, str) else None,
    )


def _spans(lines: Iterable[str | bytes], result: ImportResult, scores: list[tuple[int, Any]]) -> Iterator[ReadableSpan]:
    """The spans of ``lines``; score records (with their line numbers) are put in ``scores``."""
    resources = _Resources()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if "score" in record and "trace_id" not in record:
                scores.append((number, record["score"]))
                continue
            yield span_from_record(record, resources)
        except UnicodeDecodeError:
            result.skip(number, "not UTF-8 text")
        except json.JSONDecodeError:
            result.skip(number, "not JSON")
        except RecursionError:
            result.skip(number, "nested too deeply")
        except (ValueError, TypeError) as exc:
            result.skip(number, str(exc))


def score_from_record(record: Any) -> ScoreRow:
    """The score one exported ``{"score": ...}`` line describes; ``ValueError`` / ``TypeError`` if it is not one."""
    if not isinstance(record, dict):
        raise ValueError("the score is not an object")
    created = record.get("created_at")
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        raise ValueError("the score's created_at is not a number of seconds")
    return build_row(
        target_kind=record.get("target_kind"),
        target_id=record.get("target_id"),
        name=record.get("name"),
        value=record.get("value"),
        comment=record.get("comment"),
        source=record.get("source"),
        author=record.get("author"),
        created_at=created,
    )


def _import_scores(path: Path, scores: list[tuple[int, Any]], result: ImportResult) -> None:
    """Insert the scores whose target is in the store and that it does not already hold."""
    rows = []
    for number, record in scores:
        try:
            rows.append((number, score_from_record(record)))
        except (ValueError, TypeError) as exc:
            result.skip(number, str(exc))
    if not rows:
        return
    with connection(path) as conn, write_transaction(conn):
        new = []
        for number, row in rows:
            if not target_exists(conn, row.target_kind, row.target_id):
                result.skip(number, f"the score's {row.target_kind} {row.target_id} is not in the store")
            elif conn.execute(_SAME_SCORE, row.values()).fetchone() is None:
                new.append(row)
        insert_rows(conn, new)
    result.scores += len(new)


# "IS" compares NULLs as equal: a score with no comment (or author) matches one with none.
_SAME_SCORE = """SELECT 1 FROM scores WHERE target_kind IS ? AND target_id IS ? AND name IS ? AND value_num IS ?
AND value_str IS ? AND data_type IS ? AND comment IS ? AND source IS ? AND author IS ? AND created_at IS ?"""


def import_lines(path: str | os.PathLike[str] | None, lines: Iterable[str | bytes]) -> ImportResult:
    """Store the spans and scores of ``lines`` (as ``threadline export session`` writes them) at ``path``.

    ``lines`` may be text or bytes (UTF-8; a line that is not is skipped, as any line that is not
    an exported span or score).

    Raises:
        StoreError: the store cannot be opened for writing.
        OSError: the store could not write a batch (the disk, the file system).
    """
    result = ImportResult()
    exporter = SQLiteSpanExporter(path, retention=False)  # an archive is old on purpose: never pruned on the way in
    scores: list[tuple[int, Any]] = []
    try:
        with connection(exporter.path) as conn:
            batch: list[ReadableSpan] = []
            for span in _spans(lines, result, scores):
                batch.append(span)
                if len(batch) >= BATCH:
                    _write(exporter, conn, batch, result)
                    batch = []
            if batch:
                _write(exporter, conn, batch, result)
    finally:
        exporter.shutdown()
    _import_scores(exporter.path, scores, result)
    return result


def _write(
    exporter: SQLiteSpanExporter, conn: sqlite3.Connection, batch: list[ReadableSpan], result: ImportResult
) -> None:
    """Export ``batch``; count its spans, and those of them the store did not hold yet."""
    keys = {(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in batch}
    stored = set()
    with reading(conn):
        for marks, part in in_lists(sorted({trace_id for trace_id, _ in keys})):
            stored.update(conn.execute(f"SELECT trace_id, span_id FROM spans WHERE trace_id IN ({marks})", part))
    if exporter.export(batch) is not SpanExportResult.SUCCESS:
        raise OSError(f"could not write {len(batch)} spans to {exporter.path} (the reason is logged above)")
    result.spans += len(batch)
    result.added += len(keys - stored)
