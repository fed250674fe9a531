"""The store's lifecycle: delete a session or a trace, prune old sessions, keep a retention, export.

Deleting removes the spans, their rollups, and content no remaining span
refers to, in one write transaction; then the freed pages are given back to
the file system (``auto_vacuum = INCREMENTAL``) and the WAL is truncated.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, NamedTuple

from threadline import semconv as sc
from threadline.safe_text import json_text
from threadline.store import rollups, search_index
from threadline.store.batched import in_lists
from threadline.store.reading import Db, fetch
from threadline.store.schema import connection, retry_locked, write_transaction
from threadline.store.scores import Score, scores_by_target, scores_for
from threadline.store.sessions import find_session_id
from threadline.store.spans import trace_spans

__all__ = [
    "Deleted",
    "Retention",
    "delete_session",
    "delete_trace",
    "Exported",
    "export_session",
    "parse_duration",
    "prune",
]

logger = logging.getLogger("threadline")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | timedelta) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` (a bare number is days), or a ``timedelta`` as it is."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(days=float(text))
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"cannot read the duration {text!r}; use e.g. 30d, 12h, 90m or 2w")
    amount, unit = float(match.group(1)), (match.group(2) or "d").lower()
    return timedelta(seconds=amount * _UNIT_S[unit])


@dataclass(frozen=True)
class Deleted:
    """What a delete or prune removed."""

    sessions: int
    traces: int
    spans: int


def _delete_traces(conn: sqlite3.Connection, trace_ids: list[str]) -> tuple[int, int]:
    """Delete the traces' spans and rollups (sessions recomputed); inside the caller's transaction."""
    spans = 0
    sessions: set[str | None] = set()
    for marks, chunk in in_lists(trace_ids):
        sessions.update(r[0] for r in conn.execute(f"SELECT session_id FROM traces WHERE trace_id IN ({marks})", chunk))
        search_index.forget_traces(conn, chunk)
        spans += conn.execute(f"DELETE FROM spans WHERE trace_id IN ({marks})", chunk).rowcount
        conn.execute(f"DELETE FROM traces WHERE trace_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM scores WHERE target_kind = 'trace' AND target_id IN ({marks})", chunk)
    rollups.refresh_sessions(conn, sessions)
    gone = [
        s
        for s in sessions
        if s is not None and not conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (s,)).fetchone()
    ]
    conn.executemany("DELETE FROM scores WHERE target_kind = 'session' AND target_id = ?", [(s,) for s in gone])
    return spans, len(gone)


def collect_content(conn: sqlite3.Connection) -> int:
    """Delete message lists and messages no span refers to; the number of messages deleted.

    Bumps ``meta.content_epoch`` so that writers in other processes drop the ids they cached.
    """
    conn.execute("DROP TABLE IF EXISTS temp.live_lists")
    conn.execute(
        """
        CREATE TEMP TABLE live_lists AS
        WITH RECURSIVE live(id) AS (
            SELECT json_extract(j.value, '$[2]') FROM spans, json_each(spans.content) AS j
            WHERE spans.content IS NOT NULL
            UNION
            SELECT l.parent FROM message_lists AS l JOIN live ON l.id = live.id WHERE l.parent != 0
        )
        SELECT id FROM live
        """
    )
    conn.execute("CREATE INDEX temp.live_lists_id ON live_lists (id)")
    conn.execute("DELETE FROM message_lists WHERE id NOT IN (SELECT id FROM temp.live_lists)")
    deleted = conn.execute("DELETE FROM messages WHERE id NOT IN (SELECT message FROM message_lists)").rowcount
    conn.execute("DROP TABLE temp.live_lists")
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('content_epoch', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(time.time_ns()),),
    )
    return deleted


def give_back_space(conn: sqlite3.Connection) -> None:
    """Return free pages to the file system and truncate the WAL (best effort: readers may hold it).

    A store created before schema v2 has no incremental vacuum yet: its first prune
    switches it on with one full ``VACUUM``.
    """
    try:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
        conn.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page per call
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError:
        logger.debug("threadline: could not give space back yet", exc_info=True)


def _delete(db: Db, select_traces: str, params: tuple[Any, ...]) -> Deleted:
    """Delete the traces ``select_traces`` names, in one write transaction, then give the space back."""

    def attempt(conn: sqlite3.Connection) -> Deleted:
        with write_transaction(conn):
            trace_ids = [r[0] for r in conn.execute(select_traces, params)]
            spans, sessions = _delete_traces(conn, trace_ids) if trace_ids else (0, 0)
            if spans:
                collect_content(conn)
        return Deleted(sessions=sessions, traces=len(trace_ids), spans=spans)

    with connection(db) as conn:
        result = retry_locked(lambda: attempt(conn))
        if result.spans:
            give_back_space(conn)
    return result


def delete_session(db: Db, session_id: str) -> Deleted:
    """Delete a session (by its id, or the original id it was shortened from) with its traces and scores."""
    found = find_session_id(db, session_id) or session_id
    return _delete(db, "SELECT trace_id FROM traces WHERE session_id = ?", (found,))


def delete_trace(db: Db, trace_id: str) -> Deleted:
    """Delete one trace (its full id), its scores, and its session's rollup if it was the last trace."""
    return _delete(db, "SELECT trace_id FROM traces WHERE trace_id = ?", (trace_id.lower(),))


def prune(db: Db, older_than: str | float | timedelta | None = None, keep_sessions: int | None = None) -> Deleted:
    """Delete sessions last active before ``now - older_than`` (and older traces without a session),
    and/or all but the ``keep_sessions`` most recently active sessions (with the traces without a
    session that are older than the oldest kept)."""
    cutoffs = []
    if older_than is not None:
        cutoffs.append(time.time_ns() - int(parse_duration(older_than).total_seconds() * 1e9))
    if keep_sessions is not None:
        if keep_sessions < 0:
            raise ValueError("--keep-sessions must be 0 or more")
        with connection(db) as conn:
            rows = (
                fetch(
                    conn,
                    "SELECT active_ns FROM sessions ORDER BY active_ns DESC LIMIT 1 OFFSET ?",
                    (keep_sessions - 1,),
                )
                if keep_sessions > 0
                else [(2**63 - 1,)]
            )
        if rows:
            cutoffs.append(int(rows[0][0]))  # everything older than the N-th most recent session goes
    if not cutoffs:
        raise ValueError("say what to prune: --older-than DURATION and/or --keep-sessions N")
    cutoff = max(cutoffs)
    select = """
        SELECT t.trace_id FROM traces AS t JOIN sessions AS s ON s.session_id = t.session_id WHERE s.active_ns < ?1
        UNION ALL
        SELECT trace_id FROM traces WHERE start_ns < ?1 AND session_id IS NULL AND coalesce(end_ns, start_ns) < ?1
    """
    return _delete(db, select, (cutoff,))


class Exported(NamedTuple):
    """What :func:`export_session` wrote."""

    spans: int
    scores: int


_ORIGIN_COLUMNS = ("span_kind", "service_name", "scope_name", "environment")
_ORIGIN_SQL = f"SELECT span_id, {', '.join(_ORIGIN_COLUMNS)} FROM spans WHERE trace_id = ?"


def export_session(db: Db, session_id: str, out: IO[str]) -> Exported:
    """Write a session's spans, then its scores, as JSON lines (every attribute and captured content).

    A span is one object per line; a score is ``{"score": {...}}`` (its target, name,
    value, comment, source, author and ``created_at`` in Unix seconds), so that
    ``threadline import`` puts back what ``threadline delete`` removes.
    """
    spans = 0
    with connection(db) as conn:
        found = find_session_id(conn, session_id)
        if found is None:
            return Exported(0, 0)
        trace_ids = [
            r[0] for r in fetch(conn, "SELECT trace_id FROM traces WHERE session_id = ? ORDER BY start_ns", (found,))
        ]
        for trace_id in trace_ids:
            # What a span row keeps outside its attributes, so that `threadline import` puts back the same span.
            origin = {
                r[0]: dict(zip(_ORIGIN_COLUMNS, r[1:], strict=True)) for r in fetch(conn, _ORIGIN_SQL, (trace_id,))
            }
            for span in trace_spans(conn, trace_id):
                record = span.to_dict()
                record.pop("depth", None)
                record.update(origin.get(span.span_id, {}))
                _write_line(out, record)
                spans += 1
        scores = scores_for(conn, sc.TARGET_SESSION, found)
        by_trace = scores_by_target(conn, sc.TARGET_TRACE, trace_ids)
        scores += [score for trace_id in trace_ids for score in by_trace.get(trace_id, ())]
        for score in scores:
            _write_line(out, {"score": _score_record(score)})
    return Exported(spans, len(scores))


def _write_line(out: IO[str], record: dict[str, Any]) -> None:
    # Stored text is hostile: terminal and bidirectional controls go out as \u escapes.
    out.write(json_text(json.dumps(record, ensure_ascii=False, default=str)) + "\n")


def _score_record(score: Score) -> dict[str, Any]:
    record = score.to_dict()
    del record["id"]  # the store's own; a store imported into gives its own
    record["created_at"] = score.created_at  # Unix seconds, exactly
    return record


class Retention:
    """Prunes a store in the background, at most once per ``every`` seconds, off the exporting thread."""

    def __init__(self, path: Any, keep: str | float | timedelta, *, every: float = 3600.0) -> None:
        self.path = path
        self.keep = parse_duration(keep)
        self.every = every
        self._next = 0.0
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None

    def maybe_run(self) -> None:
        """Start a prune in a daemon thread when one is due and none is running."""
        now = time.monotonic()
        if now < self._next or not self._running.acquire(blocking=False):
            return
        self._next = now + self.every
        try:
            self._thread = threading.Thread(target=self._run, name="threadline-retention", daemon=True)
            self._thread.start()
        except RuntimeError:  # interpreter shutting down
            self._running.release()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a prune in progress to finish (for tests and orderly shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            removed = prune(self.path, older_than=self.keep)
            if removed.traces:
                logger.info("threadline: retention removed %d traces older than %s", removed.traces, self.keep)
        except Exception:  # noqa: BLE001 - retention never disturbs the application
            logger.warning("threadline: retention could not prune %s", self.path, exc_info=True)
        finally:
            self._running.release()
