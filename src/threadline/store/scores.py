"""Scores in the SQLite store: writes, reads, and the score spans the exporter routes to the ``scores`` table.

One row per score on a trace or a session (``target_kind`` / ``target_id``),
written by :func:`add_score` (the CLI's ``annotate``, the web form) and by the
SQLite exporter, which turns each ``threadline.score`` span into a row with
:func:`score_from_span` instead of storing it as a span. The table itself is
the schema's (:mod:`threadline.store.schema`); a session's scores in short
(mean of numbers, counts of categories) come with the sessions listing
(:class:`~threadline.store.results.ScoreSummary`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from threadline import semconv as sc
from threadline.score_values import (
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
from threadline.store import batched
from threadline.store.reading import Db
from threadline.store.results import fmt_number
from threadline.store.schema import connection, retry_locked, write_transaction

__all__ = [
    "Score",
    "ScoreRow",
    "add_score",
    "build_row",
    "insert_rows",
    "partition_scores",
    "score_from_span",
    "scores_by_target",
    "scores_for",
    "target_exists",
]

_COLUMNS = "target_kind, target_id, name, value_num, value_str, data_type, comment, source, author, created_at"
_INSERT_HEAD = f"INSERT INTO scores ({_COLUMNS}) VALUES"
_INSERT = f"{_INSERT_HEAD} (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


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
    """Unix seconds."""

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
class Score(ScoreRow):
    """A stored score: its row and the id the table gave it."""

    id: int

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
    """Insert ``rows`` on ``conn``: inside the caller's transaction, or all or nothing in one of their own."""
    values = [row.values() for row in rows]
    if not values or conn.in_transaction:
        batched.insert_rows(conn, _INSERT_HEAD, values)
        return
    with write_transaction(conn):
        batched.insert_rows(conn, _INSERT_HEAD, values)


def add_score(
    db: Db,
    name: Any,
    value: Any,
    *,
    trace_id: str | None = None,
    session_id: str | None = None,
    comment: Any = None,
    source: Any = "code",
    author: Any = None,
    created_at: float | None = None,
) -> int:
    """Validate and store one score on a trace (``trace_id``) or a session (``session_id``); returns its id.

    The arguments are :func:`threadline.score`'s. ``ValueError`` / ``TypeError``
    for bad input, a missing target, or both targets.
    """
    if (trace_id is None) == (session_id is None):
        raise ValueError("score a trace or a session: pass exactly one of trace_id and session_id")
    kind, target = (sc.TARGET_TRACE, trace_id) if trace_id is not None else (sc.TARGET_SESSION, session_id)
    row = build_row(
        target_kind=kind,
        target_id=target,  # type: ignore[arg-type]
        name=name,
        value=value,
        comment=comment,
        source=source,
        author=author,
        created_at=created_at,
    )
    with connection(db) as conn:
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


_SELECT = f"SELECT {_COLUMNS}, id FROM scores"  # the fields of Score, in order


def scores_for(conn: sqlite3.Connection, target_kind: str, target_id: str) -> list[Score]:
    """The scores of one trace or session, oldest first."""
    return scores_by_target(conn, target_kind, [target_id]).get(target_id, [])


def scores_by_target(conn: sqlite3.Connection, target_kind: str, target_ids: Iterable[str]) -> dict[str, list[Score]]:
    """Scores of several traces (or sessions) at once: ``{target id: [scores, oldest first]}``."""
    ids = list(dict.fromkeys(target_ids))
    out: dict[str, list[Score]] = {}
    if not ids:
        return out
    for marks, part in batched.in_lists(ids):
        sql = f"{_SELECT} WHERE target_kind = ? AND target_id IN ({marks}) ORDER BY created_at, id"
        for row in retry_locked(lambda sql=sql, part=part: conn.execute(sql, [target_kind, *part]).fetchall()):
            score = Score(*row)
            out.setdefault(score.target_id, []).append(score)
    return out


def target_exists(conn: sqlite3.Connection, target_kind: str, target_id: str) -> bool:
    """True when the store holds that trace (full id) or that session."""
    sql = (
        "SELECT 1 FROM traces WHERE trace_id = ?"
        if target_kind == sc.TARGET_TRACE
        else "SELECT 1 FROM sessions WHERE session_id = ?"
    )
    return retry_locked(lambda: conn.execute(sql, (target_id,)).fetchone()) is not None
