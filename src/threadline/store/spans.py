"""Reading stored spans: whole rows with their attributes (captured content put back), or chosen values.

The only readers of the ``spans`` table, and only ever for one trace or one
session's traces, through the ``(trace_id, span_id)`` index.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from threadline.store.batched import in_lists
from threadline.store.content import restore
from threadline.store.reading import fetch, loads
from threadline.store.results import SpanRow

__all__ = ["attribute_values", "session_span_outline", "trace_spans", "tree_order"]

_SPAN_SELECT = """
SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, outcome,
       session_id, user_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       reasoning_tokens, cost_usd, ttft_ms, is_resume, interrupt_ids, attributes, events, links, content
FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id
"""


def _ids(text: str | None) -> tuple[str, ...]:
    ids = loads(text) if text is not None else []
    return tuple(str(i) for i in ids) if isinstance(ids, list) else (str(ids),)


def _span(conn: sqlite3.Connection, row: Sequence[Any]) -> SpanRow:
    # The first 21 columns of _SPAN_SELECT are SpanRow's first 21 fields, in order (trace_id ... ttft_ms).
    return SpanRow(
        *row[:21],
        is_resume=bool(row[21]),
        interrupt_ids=_ids(row[22]),
        attributes=restore(conn, row[26], loads(row[23]) or {}),
        events=loads(row[24]) or [],
        links=loads(row[25]) or [],
    )


def trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[SpanRow]:
    """A trace's spans in tree order, every attribute as captured."""
    return tree_order([_span(conn, r) for r in fetch(conn, _SPAN_SELECT, (trace_id,))])


def tree_order(spans: list[SpanRow]) -> list[SpanRow]:
    """Depth-first, children by start time; spans whose parent is not stored are roots."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRow]] = {}
    for span in spans:  # already sorted by start
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    out: list[SpanRow] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        out.append(span if span.depth == depth else replace(span, depth=depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(span.span_id, [])))
    return out


_OUTLINE_SQL = """
SELECT rowid, trace_id, span_id, name, kind, status_code, status_message, interrupt_ids, is_resume
FROM spans
WHERE trace_id IN (SELECT trace_id FROM traces WHERE session_id = ?)
ORDER BY start_ns, span_id
"""


def session_span_outline(conn: sqlite3.Connection, session_id: str) -> list[tuple[Any, ...]]:
    """The small columns of every span of a session's traces (no attributes), by start time."""
    return fetch(conn, _OUTLINE_SQL, (session_id,))


def _path(attribute: str) -> str:
    return '$."' + attribute + '"'


def attribute_values(conn: sqlite3.Connection, rowids: Iterable[int], names: Sequence[str]) -> dict[int, list[Any]]:
    """rowid -> the values of attributes ``names`` (two or more; ``None`` where absent), content put back."""
    extract = "json_extract(attributes, " + ", ".join(f"'{_path(a)}'" for a in names) + ")"
    out: dict[int, list[Any]] = {}
    ordered = sorted(set(rowids))
    for marks, chunk in in_lists(ordered):
        sql = f"SELECT rowid, {extract}, content FROM spans WHERE rowid IN ({marks})"
        for rowid, values, content in fetch(conn, sql, chunk):
            found = json.loads(values) if values else [None] * len(names)
            if content:
                restored = restore(conn, content, {}, only=names)
                found = [restored.get(name, value) for name, value in zip(names, found, strict=True)]
            out[rowid] = found
    return out
