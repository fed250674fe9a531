"""Trace and session rollups, kept in step with the spans inside the writer's transaction.

Readers list sessions and traces from the ``traces`` / ``sessions`` tables (and
``session_users`` / ``session_models``) through their indexes and never
aggregate spans. A writer calls :func:`refresh` with the trace ids a batch
touched, in the same transaction as its ``INSERT``: each trace is recomputed
from its own spans (one index range, so the result does not depend on how its
spans were split into batches or ordered), and each of its sessions is updated
by the difference between the trace's old and new row. SQLite serialises the
write transactions of several processes. The rows themselves are computed in
:mod:`.rollup_rows` (with the definitions); :mod:`.rollup_check` compares the
stored rollups with a full recomputation.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from threadline.store.batched import in_lists, insert_rows, parts, value_rows
from threadline.store.rollup_rows import (
    SESSION_COLUMNS,
    SESSION_INPUT,
    TRACE_COLUMNS,
    TRACE_INPUT,
    USAGE_FIELDS,
    dumps,
    loads,
    session_row,
    trace_row,
)
from threadline.store.span_rows import promoted_from_attributes

__all__ = ["backfill_span_columns", "rebuild", "refresh", "refresh_sessions"]

_UPSERT_TRACE_HEAD = f"INSERT OR REPLACE INTO traces ({', '.join(TRACE_COLUMNS)}) VALUES"
_UPSERT_TRACE = f"{_UPSERT_TRACE_HEAD} ({', '.join('?' * len(TRACE_COLUMNS))})"
_UPSERT_SESSION_HEAD = f"INSERT OR REPLACE INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES"
_USERS = SESSION_COLUMNS.index("users")
_MODEL_COLUMNS = f"session_id, model, calls, {', '.join(USAGE_FIELDS)}"
_UPSERT_MODEL_HEAD = f"INSERT OR REPLACE INTO session_models ({_MODEL_COLUMNS}) VALUES"
_SELECT_SESSIONS_TRACES = (
    f"SELECT session_id, {', '.join(SESSION_INPUT)} FROM traces WHERE session_id IN ({{marks}})"
    " ORDER BY session_id, start_ns"
)


def _write_trace(conn: sqlite3.Connection, trace_id: str, spans: Sequence[Sequence[Any]]) -> str | None:
    """Store the trace's rollup row (or remove it, without spans); its session id."""
    if not spans:
        conn.execute("DELETE FROM traces WHERE trace_id = ?", (trace_id,))
        return None
    row = trace_row(trace_id, spans)
    conn.execute(_UPSERT_TRACE, row)
    return row[1]  # type: ignore[no-any-return]


def refresh_sessions(conn: sqlite3.Connection, session_ids: Iterable[str | None]) -> None:
    """Recompute the rollup rows of ``session_ids`` from their traces (a session with none is removed).

    A few statements for all the sessions (see :mod:`.batched`), not a few per session.
    """
    ids = sorted({s for s in session_ids if s is not None})
    if not ids:
        return
    traces: dict[str, list[Any]] = {}
    before: dict[str, tuple[Any, Any]] = {}
    for marks, chunk in in_lists(ids):
        for row in conn.execute(_SELECT_SESSIONS_TRACES.format(marks=marks), chunk):
            traces.setdefault(row[0], []).append(row[1:])
        sql = f"SELECT session_id, users, models FROM sessions WHERE session_id IN ({marks})"  # noqa: S608
        before.update((r[0], (r[1], r[2])) for r in conn.execute(sql, chunk))
    _delete_sessions(conn, [s for s in ids if s not in traces])
    rows, users, models, stale_users, stale_models = [], [], [], [], []
    for session_id, found in traces.items():
        row, per_model = session_row(session_id, found)
        rows.append(row)
        old_users, old_models = before.get(session_id, (None, None))
        if row[_USERS] != old_users:  # most batches add no user: leave the index rows alone
            stale_users.append(session_id)
            users.extend((u, session_id) for u in loads(row[_USERS]) or ())
        if session_id not in before or set(per_model) != set(loads(old_models) or ()):
            stale_models.append(session_id)
        models.extend((session_id, model, *entry) for model, entry in per_model.items())
    insert_rows(conn, _UPSERT_SESSION_HEAD, rows)
    _delete_where_session(conn, "session_users", stale_users)
    insert_rows(conn, "INSERT INTO session_users (user_id, session_id) VALUES", users)
    _delete_where_session(conn, "session_models", stale_models)
    insert_rows(conn, _UPSERT_MODEL_HEAD, models)


def _delete_where_session(conn: sqlite3.Connection, table: str, session_ids: Sequence[str]) -> None:
    for marks, chunk in in_lists(session_ids):
        conn.execute(f"DELETE FROM {table} WHERE session_id IN ({marks})", chunk)  # noqa: S608 - fixed names


def _delete_sessions(conn: sqlite3.Connection, session_ids: Sequence[str]) -> None:
    """Remove the rollups of sessions left without traces."""
    for table in ("sessions", "session_users", "session_models"):
        _delete_where_session(conn, table, session_ids)


def refresh(
    conn: sqlite3.Connection, trace_ids: Iterable[str], written: Mapping[str, Sequence[Sequence[Any]]] | None = None
) -> None:
    """Recompute the rollups of ``trace_ids`` and update the sessions they belong (or belonged) to.

    Call inside the write transaction that changed those traces' spans. A trace
    is recomputed from its spans; its session is updated by the difference between
    the trace's old and new rollup (so a long session costs no more per batch than a
    short one), or recomputed from its traces when a trace left it.

    ``written``: the :data:`TRACE_INPUT` rows of the spans this transaction inserted, by
    trace id (each span once). A trace that had no rollup row has no other spans in the
    store, so its rollup is computed from these rows instead of reading them back.
    """
    ids = sorted(set(trace_ids))
    changed: dict[str, list[tuple[Any, Any]]] = {}
    full: set[str | None] = set()
    for marks, chunk in in_lists(ids):  # a few statements per batch, not per trace
        old = {r[0]: r for r in conn.execute(f"SELECT {_TRACE_LIST} FROM traces WHERE trace_id IN ({marks})", chunk)}
        spans = _trace_spans(conn, chunk, old, written or {})
        rows = [trace_row(trace_id, found) for trace_id, found in spans.items() if found]
        insert_rows(conn, _UPSERT_TRACE_HEAD, rows)
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
    _update_sessions(conn, {s: pairs for s, pairs in changed.items() if s not in full})


def _trace_spans(
    conn: sqlite3.Connection, chunk: list[str], old: Mapping[str, Any], written: Mapping[str, Sequence[Sequence[Any]]]
) -> dict[str, Sequence[Sequence[Any]]]:
    """The :data:`TRACE_INPUT` rows of each trace of ``chunk``: a new trace's from ``written``, others read back."""
    spans: dict[str, Sequence[Sequence[Any]]] = {}
    stored: dict[str, list[Any]] = {}
    for trace_id in chunk:
        mine = written.get(trace_id)
        if mine is not None and trace_id not in old:
            spans[trace_id] = mine
        else:
            spans[trace_id] = stored[trace_id] = []
    for marks, ids in in_lists(list(stored)):
        for row in conn.execute(f"SELECT trace_id, {_SPAN_LIST} FROM spans WHERE trace_id IN ({marks})", ids):
            stored[row[0]].append(row[1:])
    return spans


_TRACE_LIST = ", ".join(TRACE_COLUMNS)
_SPAN_LIST = ", ".join(TRACE_INPUT)
_S = {name: i for i, name in enumerate(SESSION_COLUMNS)}
_T = {name: i for i, name in enumerate(TRACE_COLUMNS)}
_START = operator.itemgetter(_T["start_ns"])


def _is_error(trace: Sequence[Any] | None) -> int:
    return 1 if trace is not None and trace[_T["error_spans"]] and not trace[_T["interrupted"]] else 0


def _union(stored: str | None, traces: Iterable[Sequence[Any]], column: str) -> str | None:
    texts = {t[_T[column]] for t in traces} - {None, stored}
    if not texts:  # nothing new (the common case: a session's traces repeat its users and models)
        return stored
    found = set(loads(stored) or ())
    for text in texts:
        found.update(loads(text) or ())
    return dumps(sorted(found))


def _latest(conn: sqlite3.Connection, session_id: str, column: str) -> Any:
    """The ``column`` of the session's latest trace that has one (through the session index)."""
    row = conn.execute(
        f"SELECT {column} FROM traces WHERE session_id = ? AND {column} IS NOT NULL ORDER BY start_ns DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return row[0] if row else None


def _latest_of(conn: sqlite3.Connection, current: Sequence[Any], having: list[Any], column: str) -> Any:
    """The ``column`` of the session's latest trace that has one, ``having`` the batch's traces with one.

    The newest of them is the latest when it started after every stored trace of the session had
    ended (the common case: a conversation's turns follow each other); otherwise the store is read.
    """
    newest = max(having, key=_START)
    ended = current[_S["last_end_ns"]]
    if ended is not None and newest[_T["start_ns"]] > ended:
        return newest[_T[column]]
    return _latest(conn, current[0], column)


def _update_sessions(conn: sqlite3.Connection, changed: dict[str, list[tuple[Any, Any]]]) -> None:
    """Apply to sessions' rollups the change of some of their traces: ``(old row or None, new row)`` each.

    A few statements for all the batch's sessions, not a few per session (see :mod:`.batched`).
    """
    ids = list(changed)
    currents: dict[str, Sequence[Any]] = {}
    for marks, chunk in in_lists(ids):
        sql = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id IN ({marks})"  # noqa: S608
        currents.update((r[0], r) for r in conn.execute(sql, chunk))
    refresh_sessions(conn, [s for s in ids if s not in currents])
    updates: dict[tuple[int, ...], list[list[Any]]] = {}
    users: list[tuple[str, str]] = []
    for session_id, current in currents.items():
        row = _updated_session(conn, current, changed[session_id])
        columns = tuple(i for i in range(1, len(row)) if row[i] != current[i])
        if columns:
            updates.setdefault(columns, []).append([row[0], *(row[i] for i in columns)])
        if row[_S["users"]] != current[_S["users"]]:
            users.extend((u, session_id) for u in loads(row[_S["users"]]) or ())
    for columns, rows in updates.items():
        _update_columns(conn, columns, rows)
    insert_rows(conn, "INSERT OR IGNORE INTO session_users (user_id, session_id) VALUES", users)
    _update_models(conn, {s: changed[s] for s in currents})


def _updated_session(conn: sqlite3.Connection, current: Sequence[Any], pairs: list[tuple[Any, Any]]) -> list[Any]:
    """The session row ``current`` with the change of some of its traces applied."""
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
    if any(n[_T["ttfts"]] is not None or (o is not None and o[_T["ttfts"]] is not None) for o, n in pairs):
        _update_ttfts(row, pairs)
    for column in ("environment", "metadata"):
        having = [n for n in new if n[_T[column]] is not None]
        if having:
            row[_S[column]] = _latest_of(conn, current, having, column)
    if row[_S["original_id"]] is None:
        row[_S["original_id"]] = next((n[_T["original_id"]] for n in new if n[_T["original_id"]]), None)
    return row


def _update_ttfts(row: list[Any], pairs: list[tuple[Any, Any]]) -> None:
    ttfts = loads(row[_S["ttfts"]]) or []
    for o, n in pairs:
        for value in (loads(o[_T["ttfts"]]) or ()) if o else ():
            ttfts.remove(value)
        ttfts.extend(loads(n[_T["ttfts"]]) or ())
    ttfts.sort()
    row[_S["ttfts"]] = dumps(ttfts)
    row[_S["ttft_median_ms"]] = statistics.median(ttfts) if ttfts else None


def _update_columns(conn: sqlite3.Connection, columns: tuple[int, ...], rows: list[list[Any]]) -> None:
    """Write ``columns`` of sessions (each row: session id, then those values); only their indexes are touched."""
    # A VALUES row's columns are column1, column2 ...: column1 is the session id.
    assignments = ", ".join(f"{SESSION_COLUMNS[i]} = v.column{k + 2}" for k, i in enumerate(columns))
    for part in parts(rows):
        values = value_rows(1 + len(columns), len(part))
        sql = f"UPDATE sessions SET {assignments} FROM (VALUES {values}) AS v WHERE session_id = v.column1"  # noqa: S608
        conn.execute(sql, [value for row in part for value in row])


def _update_models(conn: sqlite3.Connection, changed: dict[str, list[tuple[Any, Any]]]) -> None:
    """Apply the traces' change of per-model usage to their sessions' ``session_models`` rows."""
    delta: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for session_id, pairs in changed.items():
        for o, n in pairs:
            before = loads(o[_T["model_usage"]]) if o else None
            after = loads(n[_T["model_usage"]])
            for model in set(before or ()) | set(after or ()):
                delta.setdefault((session_id, model), []).append(((before or {}).get(model), (after or {}).get(model)))
    if not delta:
        return
    sessions = sorted({s for s, _ in delta})
    stored: dict[tuple[str, str], list[Any]] = {}
    for marks, chunk in in_lists(sessions):
        sql = f"SELECT {_MODEL_COLUMNS} FROM session_models WHERE session_id IN ({marks})"  # noqa: S608
        stored.update(((r[0], r[1]), list(r[2:])) for r in conn.execute(sql, chunk) if (r[0], r[1]) in delta)
    rows = []
    for (session_id, model), changes in delta.items():
        entry = stored.get((session_id, model), [0] + [None] * len(USAGE_FIELDS))
        for before, after in changes:
            for k in range(len(entry)):
                b = before[k] if before else None
                a = after[k] if after else None
                if b is not None or a is not None:
                    entry[k] = (entry[k] or 0) + (a or 0) - (b or 0)
        rows.append((session_id, model, *entry))
    insert_rows(conn, _UPSERT_MODEL_HEAD, rows)


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
