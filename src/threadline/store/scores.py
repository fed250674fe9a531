"""Scores in the SQLite store: the ``scores`` table, its writes, its reads, and score spans routed to it.

One row per score on a trace or a session (``target_kind`` / ``target_id``),
written by :func:`add_score` (the CLI's ``annotate``, the web form) and by the
SQLite exporter, which turns each ``threadline.score`` span into a row with
:func:`score_from_span` instead of storing it as a span. Readers tolerate a
store without the table (nothing scored yet, or opened read-only).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from threadline import semconv as sc
from threadline.scores import (
    DATA_TYPES,
    TARGET_KINDS,
    ScoreValue,
    check_comment,
    check_name,
    check_optional,
    check_text,
    check_trace_id,
    score_value,
)
from threadline.store.schema import open_store, retry_locked

__all__ = [
    "SCORES_DDL",
    "NameSummary",
    "Score",
    "ScoreRow",
    "ScoreSummary",
    "add_score",
    "build_row",
    "connect",
    "ensure_table",
    "insert_rows",
    "partition_scores",
    "score_from_span",
    "score_summary",
    "scores_by_target",
    "scores_for",
    "target_exists",
]

SCORES_DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS scores (
        id          INTEGER PRIMARY KEY,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('trace', 'session')),
        target_id   TEXT NOT NULL,      -- 32 hex digits for a trace; the session id
        name        TEXT NOT NULL,
        value_num   REAL,               -- numeric value; 1.0 / 0.0 for a boolean
        value_str   TEXT,               -- categorical value
        data_type   TEXT NOT NULL,      -- numeric | boolean | categorical
        comment     TEXT,
        source      TEXT NOT NULL,      -- code | annotation | eval | ...
        author      TEXT,
        created_at  REAL NOT NULL       -- Unix seconds
    )
    """,
    "CREATE INDEX IF NOT EXISTS scores_target ON scores (target_kind, target_id)",
)

_COLUMNS = "target_kind, target_id, name, value_num, value_str, data_type, comment, source, author, created_at"
_INSERT = f"INSERT INTO scores ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_ROWS_PER_INSERT = 90


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create the ``scores`` table and its index when missing (idempotent; a no-op on a read-only store)."""
    try:
        for statement in SCORES_DDL:
            retry_locked(lambda s=statement: conn.execute(s))  # type: ignore[misc]
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc).lower() and "read-only" not in str(exc).lower():
            raise


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRow:
    """One score as written to the table (no id yet)."""

    target_kind: str
    target_id: str
    name: str
    value_num: float | None
    value_str: str | None
    data_type: str
    comment: str | None
    source: str
    author: str | None
    created_at: float

    def values(self) -> tuple[Any, ...]:
        """The row's values in the table's column order (without ``id``)."""
        return (
            self.target_kind,
            self.target_id,
            self.name,
            self.value_num,
            self.value_str,
            self.data_type,
            self.comment,
            self.source,
            self.author,
            self.created_at,
        )


@dataclass(frozen=True)
class Score:
    """A stored score."""

    id: int
    target_kind: str
    target_id: str
    name: str
    data_type: str
    value_num: float | None
    value_str: str | None
    comment: str | None
    source: str
    author: str | None
    created_at: float
    """Unix seconds."""

    @property
    def value(self) -> float | bool | str | None:
        """The value: a float, a bool or a category string."""
        if self.data_type == sc.SCORE_BOOLEAN:
            return None if self.value_num is None else bool(self.value_num)
        if self.data_type == sc.SCORE_NUMERIC:
            return self.value_num
        return self.value_str

    @property
    def value_text(self) -> str:
        """The value as shown: ``0.8``, ``1``, ``true``, ``good``."""
        value = self.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return fmt_number(value)
        return "-" if value is None else value

    @property
    def created(self) -> datetime:
        """When it was recorded (UTC)."""
        return datetime.fromtimestamp(self.created_at, tz=timezone.utc)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "name": self.name,
            "value": self.value,
            "data_type": self.data_type,
            "comment": self.comment,
            "source": self.source,
            "author": self.author,
            "created_at": self.created.isoformat(),
        }


def fmt_number(value: float) -> str:
    """``1``, ``0.8``, ``0.67``, ``1.2e+06``: at most three significant digits after rounding to 2 places."""
    rounded = round(value, 2)
    return f"{rounded:.3g}" if abs(rounded) < 1000 else f"{value:.3g}"


def build_row(
    *,
    target_kind: str,
    target_id: str,
    name: Any,
    value: Any,
    comment: Any = None,
    source: Any,
    author: Any = None,
    created_at: float | None = None,
) -> ScoreRow:
    """A validated :class:`ScoreRow` (same rules as :func:`threadline.score`); ``ValueError`` / ``TypeError``."""
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind must be one of {TARGET_KINDS}, got {target_kind!r}")
    target = check_trace_id(target_id) if target_kind == sc.TARGET_TRACE else check_text(target_id, "session id")
    checked: ScoreValue = value if isinstance(value, ScoreValue) else score_value(value)
    return ScoreRow(
        target_kind=target_kind,
        target_id=target,
        name=check_name(name),
        value_num=checked.number,
        value_str=checked.category,
        data_type=checked.data_type,
        comment=check_comment(comment),
        source=check_text(source, "source"),
        author=check_optional(author, "author"),
        created_at=time.time() if created_at is None else float(created_at),
    )


def insert_rows(conn: sqlite3.Connection, rows: Sequence[ScoreRow]) -> None:
    """Insert ``rows`` on ``conn``: inside the caller's transaction, or atomically on their own.

    One multi-row ``INSERT`` per 90 rows (SQLite's older 999-parameter limit),
    so up to 90 rows need no explicit transaction to be all-or-nothing.
    """
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[start : start + _ROWS_PER_INSERT]
        sql = _INSERT + ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" * (len(part) - 1)
        conn.execute(sql, [value for row in part for value in row.values()])


def add_score(
    conn: sqlite3.Connection,
    *,
    target_kind: str,
    target_id: str,
    name: Any,
    value: Any,
    comment: Any = None,
    source: Any,
    author: Any = None,
    created_at: float | None = None,
) -> int:
    """Validate and store one score; returns its id. ``ValueError`` / ``TypeError`` for bad input."""
    row = build_row(
        target_kind=target_kind,
        target_id=target_id,
        name=name,
        value=value,
        comment=comment,
        source=source,
        author=author,
        created_at=created_at,
    )
    ensure_table(conn)
    return int(retry_locked(lambda: conn.execute(_INSERT, row.values())).lastrowid or 0)


# --- from spans (the exporter's side) ------------------------------------------------------------


def score_from_span(span: Any) -> ScoreRow | None:
    """The score row a ``threadline.score`` span carries, or ``None`` for any other span.

    A score span whose attributes do not make a valid score (another
    producer's span of the same name) gives ``None`` too: it is then stored
    as an ordinary span, never lost.
    """
    if span.name != sc.SCORE_SPAN_NAME:
        return None
    attrs = span.attributes or {}
    if sc.SCORE_NAME not in attrs:
        return None
    end = span.end_time or span.start_time or time.time_ns()
    try:
        value = attrs.get(sc.SCORE_VALUE)
        data_type = attrs.get(sc.SCORE_DATA_TYPE)
        if data_type not in DATA_TYPES:
            return None
        if data_type == sc.SCORE_BOOLEAN and not isinstance(value, bool):
            return None
        return build_row(
            target_kind=str(attrs.get(sc.SCORE_TARGET_KIND)),
            target_id=attrs.get(sc.SCORE_TARGET_ID),  # type: ignore[arg-type]
            name=attrs.get(sc.SCORE_NAME),
            value=value,
            comment=attrs.get(sc.SCORE_COMMENT),
            source=attrs.get(sc.SCORE_SOURCE, "code"),
            author=attrs.get(sc.SCORE_AUTHOR),
            created_at=end / 1e9,
        )
    except (TypeError, ValueError):
        return None


def partition_scores(spans: Sequence[Any]) -> tuple[list[ScoreRow], list[Any]]:
    """``(score rows, other spans)``: what the SQLite exporter writes to ``scores`` and to ``spans``."""
    name = sc.SCORE_SPAN_NAME
    if not any(span.name == name for span in spans):
        return [], list(spans)  # the common batch: no score in it
    rows: list[ScoreRow] = []
    rest: list[Any] = []
    for span in spans:
        row = score_from_span(span)
        if row is None:
            rest.append(span)
        else:
            rows.append(row)
    return rows, rest


# --- reads ----------------------------------------------------------------------------------------


def _has_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scores'").fetchone()
    return row is not None


def _score(row: Sequence[Any]) -> Score:
    return Score(
        id=row[0],
        target_kind=row[1],
        target_id=row[2],
        name=row[3],
        value_num=row[4],
        value_str=row[5],
        data_type=row[6],
        comment=row[7],
        source=row[8],
        author=row[9],
        created_at=row[10],
    )


_SELECT = f"SELECT id, {_COLUMNS} FROM scores"


def scores_for(conn: sqlite3.Connection, target_kind: str, target_id: str) -> list[Score]:
    """The scores of one trace or session, oldest first."""
    return scores_by_target(conn, target_kind, [target_id]).get(target_id, [])


def scores_by_target(conn: sqlite3.Connection, target_kind: str, target_ids: Iterable[str]) -> dict[str, list[Score]]:
    """Scores of several traces (or sessions) at once: ``{target id: [scores, oldest first]}``."""
    ids = list(dict.fromkeys(target_ids))
    out: dict[str, list[Score]] = {}
    if not ids or not retry_locked(lambda: _has_table(conn)):
        return out
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ", ".join("?" for _ in part)
        sql = f"{_SELECT} WHERE target_kind = ? AND target_id IN ({marks}) ORDER BY created_at, id"
        for row in retry_locked(lambda sql=sql, part=part: conn.execute(sql, [target_kind, *part]).fetchall()):
            score = _score(row)
            out.setdefault(score.target_id, []).append(score)
    return out


@dataclass
class NameSummary:
    """One score name over a session: the mean of numbers and booleans, the count of each category."""

    name: str
    data_type: str
    count: int = 0
    total: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        """The mean of a numeric or boolean score; ``None`` for a categorical one."""
        if self.data_type == sc.SCORE_CATEGORICAL or not self.count:
            return None
        return self.total / self.count

    def text(self) -> str:
        """``helpful 0.8`` or ``verdict good×3 bad``."""
        if self.data_type == sc.SCORE_CATEGORICAL:
            ordered = sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))
            return f"{self.name} " + " ".join(f"{v}×{n}" if n > 1 else v for v, n in ordered)
        mean = self.mean
        return f"{self.name} {fmt_number(mean) if mean is not None else '-'}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"data_type": self.data_type, "count": self.count}
        if self.data_type == sc.SCORE_CATEGORICAL:
            out["values"] = dict(self.categories)
        else:
            out["mean"] = self.mean
        return out


@dataclass
class ScoreSummary:
    """A session's scores in short: its own and those of its traces, by name."""

    names: dict[str, NameSummary] = field(default_factory=dict)

    def add(self, score: Score) -> None:
        """Count ``score`` in."""
        key = score.name if score.data_type != sc.SCORE_CATEGORICAL else score.name + "\x00c"
        entry = self.names.get(key)
        if entry is None:
            entry = self.names[key] = NameSummary(score.name, score.data_type)
        entry.count += 1
        if score.data_type == sc.SCORE_CATEGORICAL:
            label = score.value_str or "-"
            entry.categories[label] = entry.categories.get(label, 0) + 1
        else:
            entry.total += score.value_num or 0.0

    def __bool__(self) -> bool:
        return bool(self.names)

    def text(self) -> str:
        """``helpful 0.8 · verdict good×3``; empty when nothing is scored."""
        return " · ".join(n.text() for n in sorted(self.names.values(), key=lambda n: n.name))

    def to_dict(self) -> dict[str, Any]:
        """``{name: {data_type, count, mean | values}}``."""
        return {n.name: n.to_dict() for n in sorted(self.names.values(), key=lambda n: n.name)}


# Which traces belong to which of the given sessions. Reads the spans' session index; the store's
# trace rollup answers the same question without spans.
_ANY_TRACE_SCORE = "SELECT 1 FROM scores WHERE target_kind = 'trace' LIMIT 1"
_TRACE_SESSIONS_SQL = "SELECT DISTINCT trace_id, session_id FROM spans WHERE session_id IN ({marks})"


def trace_sessions(conn: sqlite3.Connection, session_ids: Sequence[str]) -> dict[str, str]:
    """``{trace id: session id}`` for the traces of ``session_ids``."""
    out: dict[str, str] = {}
    for start in range(0, len(session_ids), 500):
        part = list(session_ids[start : start + 500])
        sql = _TRACE_SESSIONS_SQL.format(marks=", ".join("?" for _ in part))
        for trace_id, session_id in retry_locked(lambda sql=sql, part=part: conn.execute(sql, part).fetchall()):
            out.setdefault(trace_id, session_id)
    return out


def score_summary(conn: sqlite3.Connection, session_ids: Sequence[str]) -> dict[str, ScoreSummary]:
    """For each of ``session_ids`` that has any: a summary of its scores and its traces' scores."""
    ids = list(dict.fromkeys(session_ids))
    out: dict[str, ScoreSummary] = {}
    if not ids or not retry_locked(lambda: _has_table(conn)):
        return out
    for session_id, scores in scores_by_target(conn, sc.TARGET_SESSION, ids).items():
        summary = out.setdefault(session_id, ScoreSummary())
        for s in scores:
            summary.add(s)
    if retry_locked(lambda: conn.execute(_ANY_TRACE_SCORE).fetchone()) is None:
        return out  # nothing scored per trace: no need to find the sessions' traces
    traces = trace_sessions(conn, ids)
    for trace_id, scores in scores_by_target(conn, sc.TARGET_TRACE, traces).items():
        summary = out.setdefault(traces[trace_id], ScoreSummary())
        for s in scores:
            summary.add(s)
    return out


def target_exists(conn: sqlite3.Connection, target_kind: str, target_id: str) -> bool:
    """True when the store holds that trace (full id) or that session."""
    column = "trace_id" if target_kind == sc.TARGET_TRACE else "session_id"
    sql = f"SELECT 1 FROM spans WHERE {column} = ? LIMIT 1"
    return retry_locked(lambda: conn.execute(sql, (target_id,)).fetchone()) is not None


@contextlib.contextmanager
def connect(db: sqlite3.Connection | str | os.PathLike[str], *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to an existing store (``StoreNotFoundError`` when there is none); closed after if opened here.

    With ``write`` the ``scores`` table is created when missing.
    """
    if isinstance(db, sqlite3.Connection):
        conn, owned = db, False
    else:
        conn, owned = open_store(db, create=False), True
        if not write:
            conn.execute("PRAGMA query_only = ON")
    try:
        if write:
            ensure_table(conn)
        yield conn
    finally:
        if owned:
            conn.close()
