"""Trace and session rollups, kept in step with the spans inside the writer's transaction.

Readers list sessions and traces from the ``traces`` / ``sessions`` tables (and
``session_users`` / ``session_models``) through their indexes and never
aggregate spans. A writer calls :func:`refresh` with the trace ids a batch
touched, in the same transaction as its ``INSERT``: each trace is recomputed
from its own spans (one index range) and each session from its traces' rows.
Recomputing rather than adding makes the result independent of how a trace's
spans were split into batches, of their order, and of which process wrote
them (SQLite serialises the write transactions).

Definitions (as the read API documents them):

* a trace's *root* is its span with no parent in the store (the earliest, if
  several); its *session* is the session id on a root, else on any span;
* a trace is *interrupted* when its root's outcome is ``interrupted`` (or, for
  a root threadline did not build, when any span was interrupted); it is an
  *error* when a span has error status and it is not interrupted;
* tokens and cost are sums over the spans that carry them (``None`` when no
  span does, never a made-up 0); models and time to first token come from each
  call's own span, not from a framework wrapper whose usage is counted in a
  nested SDK span.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from threadline import semconv as sc

__all__ = ["TRACE_INPUT", "backfill_span_columns", "refresh", "rebuild", "session_row", "trace_row"]

# The span columns a trace rollup is computed from (promoted columns only: never the attribute JSON).
TRACE_INPUT: tuple[str, ...] = (
    "span_id",
    "parent_span_id",
    "name",
    "start_ns",
    "end_ns",
    "status_code",
    "outcome",
    "session_id",
    "user_id",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "cost_input_usd",
    "cost_output_usd",
    "usage_counted_in",
    "ttft_ms",
    "is_resume",
    "interrupt_ids",
    "resume_interrupt_ids",
    "environment",
    "session_original_id",
    "session_meta",
    "checkpoint_id",
)
(_SPAN, _PARENT, _NAME, _START, _END, _STATUS, _OUTCOME, _SESSION, _USER, _MODEL, _IN, _OUT, _CREAD, _CWRITE,
 _REASON, _TOTAL, _COST, _COST_IN, _COST_OUT, _COUNTED_IN, _TTFT, _RESUME, _INTERRUPTS, _RESUME_IDS, _ENV,
 _ORIGINAL, _SESSION_META, _CHECKPOINT) = range(len(TRACE_INPUT))  # fmt: skip

# Usage kinds in the order of a model_usage entry, with the span column each sums.
_USAGE = (_IN, _OUT, _CREAD, _CWRITE, _REASON, _TOTAL, _COST, _COST_IN, _COST_OUT)
USAGE_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "cost_input_usd",
    "cost_output_usd",
)

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "session_id",
    "root_span_id",
    "root_name",
    "root_outcome",
    "start_ns",
    "end_ns",
    "spans",
    "error_spans",
    "interrupted",
    "outcome",
    "is_resume",
    "users",
    "models",
    *USAGE_FIELDS,
    "ttfts",
    "model_usage",
    "environment",
    "tags",
    "metadata",
    "original_id",
    "interrupt_ids",
    "resume_interrupt_ids",
    "checkpoint_ids",
)
SESSION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "first_start_ns",
    "last_end_ns",
    "active_ns",
    "traces",
    "errors",
    "interrupted",
    "users",
    "models",
    *USAGE_FIELDS,
    "ttft_median_ms",
    "environment",
    "tags",
    "metadata",
    "original_id",
    "ttfts",
)

_UPSERT_TRACE = (
    f"INSERT OR REPLACE INTO traces ({', '.join(TRACE_COLUMNS)}) VALUES ({', '.join('?' * len(TRACE_COLUMNS))})"
)
_UPSERT_SESSION = (
    f"INSERT OR REPLACE INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({', '.join('?' * len(SESSION_COLUMNS))})"
)
_USERS = SESSION_COLUMNS.index("users")
_UPSERT_MODEL = (
    f"INSERT OR REPLACE INTO session_models (session_id, model, calls, {', '.join(USAGE_FIELDS)}) "
    f"VALUES ({', '.join('?' * (3 + len(USAGE_FIELDS)))})"
)
_SELECT_TRACE_SPANS = f"SELECT {', '.join(TRACE_INPUT)} FROM spans WHERE trace_id = ?"
# The trace columns a session rollup is computed from.
_SESSION_INPUT = (
    "start_ns",
    "end_ns",
    "error_spans",
    "interrupted",
    "users",
    "models",
    *USAGE_FIELDS,
    "ttfts",
    "model_usage",
    "environment",
    "tags",
    "metadata",
    "original_id",
)
_SELECT_SESSION_TRACES = f"SELECT {', '.join(_SESSION_INPUT)} FROM traces WHERE session_id = ? ORDER BY start_ns"


def _dumps(value: Any) -> str | None:
    if not value:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _sum(rows: Sequence[Sequence[Any]], index: int) -> Any:
    values = [r[index] for r in rows if r[index] is not None]
    return sum(values) if values else None


def _ids(text: str | None) -> list[str]:
    value = _loads(text)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def trace_row(trace_id: str, spans: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """The ``traces`` row of one trace from its spans' :data:`TRACE_INPUT` columns (in any order)."""
    spans = sorted(spans, key=lambda s: (s[_START], s[_SPAN]))
    ids = {s[_SPAN] for s in spans}
    roots = [s for s in spans if s[_PARENT] is None or s[_PARENT] not in ids]
    root = roots[0] if roots else None
    root_sessions = [s[_SESSION] for s in roots if s[_SESSION] is not None]
    any_sessions = [s[_SESSION] for s in spans if s[_SESSION] is not None]
    session = max(root_sessions) if root_sessions else (max(any_sessions) if any_sessions else None)
    root_outcome = root[_OUTCOME] if root is not None else None
    any_interrupted = any(s[_OUTCOME] == sc.OUTCOME_INTERRUPTED for s in spans)
    interrupted = root_outcome == sc.OUTCOME_INTERRUPTED or (root_outcome is None and any_interrupted)
    error_spans = sum(1 for s in spans if s[_STATUS] == "ERROR")
    is_resume = any(s[_RESUME] for s in spans)
    if interrupted:
        outcome = sc.OUTCOME_INTERRUPTED
    elif error_spans:
        outcome = sc.OUTCOME_ERROR
    elif root_outcome == sc.OUTCOME_CANCELLED:
        outcome = sc.OUTCOME_CANCELLED
    elif is_resume:
        outcome = "resumed"
    else:
        outcome = sc.OUTCOME_OK
    calls = [s for s in spans if s[_COUNTED_IN] is None]
    model_usage: dict[str, list[Any]] = {}
    for s in calls:
        if s[_MODEL] is None or all(s[i] is None for i in _USAGE):
            continue
        entry = model_usage.setdefault(s[_MODEL], [0] + [None] * len(_USAGE))
        entry[0] += 1
        for k, i in enumerate(_USAGE, start=1):
            if s[i] is not None:
                entry[k] = s[i] if entry[k] is None else entry[k] + s[i]
    tags: set[str] = set()
    metadata: dict[str, Any] = {}
    for s in spans:
        meta = _loads(s[_SESSION_META])
        if meta:
            tags.update(str(t) for t in meta[0] or ())
            metadata.update(meta[1] or {})
    envs = [s[_ENV] for s in ([root] if root is not None else []) + spans if s[_ENV] is not None]
    originals = [s[_ORIGINAL] for s in spans if s[_ORIGINAL] is not None]
    return (
        trace_id,
        session,
        root[_SPAN] if root is not None else None,
        root[_NAME] if root is not None else None,
        root_outcome,
        min(s[_START] for s in spans),
        max((s[_END] for s in spans if s[_END] is not None), default=None),
        len(spans),
        error_spans,
        int(interrupted),
        outcome,
        int(is_resume),
        _dumps(sorted({s[_USER] for s in spans if s[_USER] is not None})),
        _dumps(sorted({s[_MODEL] for s in calls if s[_MODEL] is not None})),
        *(_sum(spans, i) for i in _USAGE),
        _dumps(sorted(s[_TTFT] for s in calls if s[_TTFT] is not None)),
        _dumps(model_usage),
        envs[0] if envs else None,
        _dumps(sorted(tags)),
        _dumps(metadata),
        originals[0] if originals else None,
        _dumps(_unique(i for s in spans for i in _ids(s[_INTERRUPTS]))),
        _dumps(_unique(i for s in spans for i in _ids(s[_RESUME_IDS]))),
        _dumps(_unique(s[_CHECKPOINT] for s in spans if s[_CHECKPOINT] is not None)),
    )


def session_row(session_id: str, traces: Sequence[Sequence[Any]]) -> tuple[tuple[Any, ...], dict[str, list[Any]]]:
    """The ``sessions`` row of one session and its usage per model, from its traces (by start time)."""
    start, end, errors, interrupted, users, models = range(6)
    usage = range(6, 6 + len(USAGE_FIELDS))
    ttfts, model_usage, env, tags, metadata, original = range(6 + len(USAGE_FIELDS), 12 + len(USAGE_FIELDS))
    first = min(t[start] for t in traces)
    last = max((t[end] for t in traces if t[end] is not None), default=None)
    all_ttfts = sorted(v for t in traces for v in _loads(t[ttfts]) or ())
    per_model: dict[str, list[Any]] = {}
    for t in traces:
        for model, entry in (_loads(t[model_usage]) or {}).items():
            mine = per_model.setdefault(model, [0] + [None] * len(USAGE_FIELDS))
            for k, value in enumerate(entry):
                if value is not None:
                    mine[k] = value if mine[k] is None else mine[k] + value
    latest_env = [t[env] for t in traces if t[env] is not None]
    latest_meta = [t[metadata] for t in traces if t[metadata] is not None]
    originals = [t[original] for t in traces if t[original] is not None]
    row = (
        session_id,
        first,
        last,
        last if last is not None else first,
        len(traces),
        sum(1 for t in traces if t[errors] and not t[interrupted]),
        sum(t[interrupted] for t in traces),
        _dumps(sorted({u for t in traces for u in _loads(t[users]) or ()})),
        _dumps(sorted({m for t in traces for m in _loads(t[models]) or ()})),
        *(_sum(traces, i) for i in usage),
        statistics.median(all_ttfts) if all_ttfts else None,
        latest_env[-1] if latest_env else None,
        _dumps(sorted({g for t in traces for g in _loads(t[tags]) or ()})),
        latest_meta[-1] if latest_meta else None,
        originals[0] if originals else None,
        _dumps(all_ttfts),
    )
    return row, per_model


def _write_trace(conn: sqlite3.Connection, trace_id: str, spans: Sequence[Sequence[Any]]) -> str | None:
    """Store the trace's rollup row (or remove it, without spans); its session id."""
    if not spans:
        conn.execute("DELETE FROM traces WHERE trace_id = ?", (trace_id,))
        return None
    row = trace_row(trace_id, spans)
    conn.execute(_UPSERT_TRACE, row)
    return row[1]  # type: ignore[no-any-return]


def refresh_sessions(conn: sqlite3.Connection, session_ids: Iterable[str | None]) -> None:
    """Recompute the rollup rows of ``session_ids`` from their traces (a session with none is removed)."""
    for session_id in set(session_ids):
        if session_id is None:
            continue
        traces = conn.execute(_SELECT_SESSION_TRACES, (session_id,)).fetchall()
        before = conn.execute("SELECT users, models FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        old_users, old_models = before if before is not None else (None, None)
        if not traces:
            conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM session_users WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM session_models WHERE session_id = ?", (session_id,))
            continue
        row, per_model = session_row(session_id, traces)
        conn.execute(_UPSERT_SESSION, row)
        users = row[_USERS]
        if users != old_users:  # most batches add no user: leave the index rows alone
            conn.execute("DELETE FROM session_users WHERE session_id = ?", (session_id,))
            conn.executemany(
                "INSERT INTO session_users (user_id, session_id) VALUES (?, ?)",
                [(u, session_id) for u in _loads(users) or ()],
            )
        if set(per_model) != set(_loads(old_models) or ()) or before is None:
            conn.execute("DELETE FROM session_models WHERE session_id = ?", (session_id,))
        conn.executemany(_UPSERT_MODEL, [(session_id, model, *entry) for model, entry in per_model.items()])


def refresh(conn: sqlite3.Connection, trace_ids: Iterable[str]) -> None:
    """Recompute the rollups of ``trace_ids`` and update the sessions they belong (or belonged) to.

    Call inside the write transaction that changed those traces' spans. A trace
    is recomputed from its spans; its session is updated by the difference between
    the trace's old and new rollup (so a long session costs no more per batch than a
    short one), or recomputed from its traces when a trace left it.
    """
    ids = sorted(set(trace_ids))
    changed: dict[str, list[tuple[Any, Any]]] = {}
    full: set[str | None] = set()
    for start in range(0, len(ids), 400):  # a few statements per batch, not per trace
        chunk = ids[start : start + 400]
        marks = ", ".join("?" * len(chunk))
        old = {r[0]: r for r in conn.execute(f"SELECT {_TRACE_LIST} FROM traces WHERE trace_id IN ({marks})", chunk)}
        spans: dict[str, list[Any]] = {trace_id: [] for trace_id in chunk}
        for row in conn.execute(f"SELECT trace_id, {_SPAN_LIST} FROM spans WHERE trace_id IN ({marks})", chunk):
            spans[row[0]].append(row[1:])
        rows = [trace_row(trace_id, found) for trace_id, found in spans.items() if found]
        conn.executemany(_UPSERT_TRACE, rows)
        for row in rows:
            before = old.get(row[0])
            if before is not None and before[1] != row[1]:
                full.update((before[1], row[1]))  # the trace moved to another session
            elif row[1] is not None:
                changed.setdefault(row[1], []).append((before, row))
        gone = [trace_id for trace_id, found in spans.items() if not found]
        conn.executemany("DELETE FROM traces WHERE trace_id = ?", [(t,) for t in gone])
        full.update(old[t][1] for t in gone if t in old)
    refresh_sessions(conn, full)
    for session_id, pairs in changed.items():
        if session_id not in full:
            _update_session(conn, session_id, pairs)


_TRACE_LIST = ", ".join(TRACE_COLUMNS)
_SPAN_LIST = ", ".join(TRACE_INPUT)
_S = {name: i for i, name in enumerate(SESSION_COLUMNS)}
_T = {name: i for i, name in enumerate(TRACE_COLUMNS)}


def _is_error(trace: Sequence[Any] | None) -> int:
    return 1 if trace is not None and trace[_T["error_spans"]] and not trace[_T["interrupted"]] else 0


def _union(stored: str | None, traces: Iterable[Sequence[Any]], column: str) -> str | None:
    found = set(_loads(stored) or ())
    for trace in traces:
        found.update(_loads(trace[_T[column]]) or ())
    return _dumps(sorted(found))


def _latest(conn: sqlite3.Connection, session_id: str, column: str) -> Any:
    """The ``column`` of the session's latest trace that has one (through the session index)."""
    row = conn.execute(
        f"SELECT {column} FROM traces WHERE session_id = ? AND {column} IS NOT NULL ORDER BY start_ns DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return row[0] if row else None


def _update_session(conn: sqlite3.Connection, session_id: str, pairs: list[tuple[Any, Any]]) -> None:
    """Apply to a session's rollup the change of some of its traces: ``(old row or None, new row)`` each."""
    stored = conn.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ?", (session_id,))
    current = stored.fetchone()
    if current is None:
        refresh_sessions(conn, [session_id])
        return
    row = list(current)
    new = [n for _, n in pairs]
    row[_S["first_start_ns"]] = min(row[_S["first_start_ns"]], *(n[_T["start_ns"]] for n in new))
    ends = [e for e in (row[_S["last_end_ns"]], *(n[_T["end_ns"]] for n in new)) if e is not None]
    row[_S["last_end_ns"]] = max(ends) if ends else None
    row[_S["active_ns"]] = row[_S["last_end_ns"]] if ends else row[_S["first_start_ns"]]
    row[_S["traces"]] += sum(1 for o, _ in pairs if o is None)
    row[_S["errors"]] += sum(_is_error(n) - _is_error(o) for o, n in pairs)
    row[_S["interrupted"]] += sum(n[_T["interrupted"]] - (o[_T["interrupted"]] if o else 0) for o, n in pairs)
    for column in ("users", "models", "tags"):
        row[_S[column]] = _union(row[_S[column]], new, column)
    for field in USAGE_FIELDS:
        value = row[_S[field]]
        for o, n in pairs:
            before, after = (o[_T[field]] if o else None), n[_T[field]]
            if before is not None or after is not None:
                value = (value or 0) + (after or 0) - (before or 0)
        row[_S[field]] = value
    ttfts = _loads(row[_S["ttfts"]]) or []
    for o, n in pairs:
        for value in (_loads(o[_T["ttfts"]]) or ()) if o else ():
            ttfts.remove(value)
        ttfts.extend(_loads(n[_T["ttfts"]]) or ())
    ttfts.sort()
    row[_S["ttfts"]] = _dumps(ttfts)
    row[_S["ttft_median_ms"]] = statistics.median(ttfts) if ttfts else None
    for column in ("environment", "metadata"):
        if any(n[_T[column]] is not None for n in new):
            row[_S[column]] = _latest(conn, session_id, column)
    if row[_S["original_id"]] is None:
        row[_S["original_id"]] = next((n[_T["original_id"]] for n in new if n[_T["original_id"]]), None)
    conn.execute(_UPSERT_SESSION, row)
    if row[_S["users"]] != current[_S["users"]]:
        conn.executemany(
            "INSERT OR IGNORE INTO session_users (user_id, session_id) VALUES (?, ?)",
            [(u, session_id) for u in _loads(row[_S["users"]]) or ()],
        )
    _update_models(conn, session_id, pairs)


def _update_models(conn: sqlite3.Connection, session_id: str, pairs: list[tuple[Any, Any]]) -> None:
    delta: dict[str, list[tuple[Any, Any]]] = {}
    for o, n in pairs:
        before = _loads(o[_T["model_usage"]]) if o else None
        after = _loads(n[_T["model_usage"]])
        for model in set(before or ()) | set(after or ()):
            delta.setdefault(model, []).append(((before or {}).get(model), (after or {}).get(model)))
    if not delta:
        return
    marks = ", ".join("?" * len(delta))
    stored = {
        r[0]: list(r[1:])
        for r in conn.execute(
            f"SELECT model, calls, {', '.join(USAGE_FIELDS)} FROM session_models "
            f"WHERE session_id = ? AND model IN ({marks})",
            (session_id, *delta),
        )
    }
    rows = []
    for model, changes in delta.items():
        entry = stored.get(model, [0] + [None] * len(USAGE_FIELDS))
        for before, after in changes:
            for k in range(len(entry)):
                b = before[k] if before else None
                a = after[k] if after else None
                if b is not None or a is not None:
                    entry[k] = (entry[k] or 0) + (a or 0) - (b or 0)
        rows.append((session_id, model, *entry))
    conn.executemany(_UPSERT_MODEL, rows)


def _by_trace(conn: sqlite3.Connection) -> Iterator[tuple[str, list[Any]]]:
    rows = conn.execute(f"SELECT trace_id, {', '.join(TRACE_INPUT)} FROM spans ORDER BY trace_id")
    current: str | None = None
    group: list[Any] = []
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield current, group
            current, group = row[0], []
        group.append(row[1:])
    if current is not None:
        yield current, group


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every rollup from the spans (a migration's back-fill; a repair)."""
    for table in ("traces", "sessions", "session_users", "session_models"):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    for trace_id, spans in list(_by_trace(conn)):
        _write_trace(conn, trace_id, spans)
    sessions = [r[0] for r in conn.execute("SELECT DISTINCT session_id FROM traces WHERE session_id IS NOT NULL")]
    refresh_sessions(conn, sessions)


def backfill_span_columns(conn: sqlite3.Connection) -> None:
    """Fill the span columns schema v2 added from each span's stored attributes."""
    from threadline.exporters.sqlite import promoted_from_attributes  # the exporter defines them

    updates = []
    for rowid, attributes in conn.execute("SELECT rowid, attributes FROM spans"):
        try:
            attrs = json.loads(attributes)
        except ValueError:
            continue
        if isinstance(attrs, dict):
            updates.append((*promoted_from_attributes(attrs), rowid))
    conn.executemany(
        "UPDATE spans SET environment = ?, session_original_id = ?, cost_input_usd = ?, cost_output_usd = ?, "
        "checkpoint_id = ?, session_meta = ? WHERE rowid = ?",
        updates,
    )


_ROLLUP_TABLES = {
    "traces": "trace_id",
    "sessions": "session_id",
    "session_users": "user_id, session_id",
    "session_models": "session_id, model",
}


def differences(conn: sqlite3.Connection) -> list[str]:
    """How the stored rollups differ from a full recomputation from the spans (empty when they agree).

    Recomputes inside a savepoint that is rolled back, so the store is left as it was.
    """

    def snapshot() -> dict[str, list[Any]]:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall() for t, k in _ROLLUP_TABLES.items()}  # noqa: S608

    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        stored = snapshot()
        conn.execute("SAVEPOINT rollup_check")
        try:
            rebuild(conn)
            recomputed = snapshot()
        finally:
            conn.execute("ROLLBACK TO rollup_check")
            conn.execute("RELEASE rollup_check")
    finally:
        if began:
            conn.execute("ROLLBACK")
    out = []
    for table in _ROLLUP_TABLES:
        mine, theirs = stored[table], recomputed[table]
        if len(mine) != len(theirs) or not all(map(_same_row, mine, theirs)):
            only_mine = [r for r in mine if not any(_same_row(r, t) for t in theirs)]
            only_theirs = [t for t in theirs if not any(_same_row(r, t) for r in mine)]
            out.append(f"{table}: stored only {only_mine[:3]}, recomputed only {only_theirs[:3]}")
    return out


def _same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal rows, sums of floats to 1e-9 relative (added in another order, they may differ in the last bits)."""
    if len(a) != len(b):
        return False
    return all(x == y or (_number(x) and _number(y) and _close(x, y)) for x, y in zip(a, b, strict=True))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
