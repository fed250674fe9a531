"""Scores in the terminal: ``threadline annotate``, and the ``Scores`` block under a replay or a span tree.

::

    threadline annotate SESSION_OR_TRACE --score helpful=1 [--score verdict=good] [--comment C] [--json]
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.text import Text

from threadline import semconv as sc
from threadline.cli.args import CliError, store_path
from threadline.cli.output import Fields, make_console, one_line, print_json
from threadline.score_values import parse_value
from threadline.store import queries
from threadline.store import scores as score_store
from threadline.store.schema import connection, retry_locked

__all__ = ["cmd_annotate", "score_line", "scores_block", "scores_json", "session_scores"]


def score_line(score: score_store.Score) -> str:
    """``helpful = 1 · "comment" · by alice · annotation`` (safe for the terminal)."""
    parts = [f"{score.name} = {score.value_text}"]
    if score.comment:
        parts.append(f"“{score.comment}”")
    if score.author:
        parts.append(f"by {score.author}")
    parts.append(score.source)
    return one_line(" · ".join(parts))


def scores_block(labelled: Sequence[tuple[str, score_store.Score]]) -> Group:
    """A ``Scores`` heading and one ``label: name = value · ...`` line per score."""
    grid = Fields()
    for label, score in labelled:
        grid.add(label, score_line(score), "cyan")
    return Group(Text("Scores", style="bold"), grid)


def session_scores(
    conn: sqlite3.Connection, detail: queries.SessionDetail
) -> tuple[list[score_store.Score], dict[str, list[score_store.Score]]]:
    """The scores on a session itself, and those on each of its turns' traces (by trace id)."""
    own = score_store.scores_for(conn, sc.TARGET_SESSION, detail.summary.session_id)
    by_trace = score_store.scores_by_target(conn, sc.TARGET_TRACE, [t.trace_id for t in detail.turns])
    return own, by_trace


def scores_json(scores: Sequence[score_store.Score]) -> list[dict[str, Any]]:
    """Scores as JSON-ready dicts."""
    return [s.to_dict() for s in scores]


def _annotation_target(conn: sqlite3.Connection, target: str, *, kind: str | None) -> tuple[str, str]:
    """``(kind, id)`` of what ``threadline annotate`` scores.

    Unforced: a full trace id of a stored trace, else a stored session, else a unique trace id prefix.
    """
    exact_trace = len(target) == 32 and score_store.target_exists(conn, sc.TARGET_TRACE, target.lower())
    if kind != sc.TARGET_SESSION and exact_trace:
        return sc.TARGET_TRACE, target.lower()
    if kind != sc.TARGET_TRACE and score_store.target_exists(conn, sc.TARGET_SESSION, target):
        return sc.TARGET_SESSION, target
    if kind != sc.TARGET_SESSION:
        try:
            full = queries.resolve_trace_id(conn, target)
        except queries.AmbiguousIdError as exc:
            raise CliError(str(exc)) from None
        if full is not None:
            return sc.TARGET_TRACE, full
    what = {sc.TARGET_TRACE: "trace", sc.TARGET_SESSION: "session"}.get(kind or "", "trace or session")
    raise CliError(f"no {what} {target!r} in the store (list them with: threadline sessions / threadline traces)")


def cmd_annotate(args: argparse.Namespace) -> int:
    """``threadline annotate SESSION_OR_TRACE --score NAME=VALUE ...``."""
    path = store_path(args)
    kind = sc.TARGET_TRACE if args.trace else sc.TARGET_SESSION if args.session else None
    with connection(path) as conn:
        target_kind, target_id = _annotation_target(conn, args.target, kind=kind)
        rows = []
        for item in args.score:
            name, sep, text = item.partition("=")
            if not sep:
                raise CliError(f"--score {item!r}: write NAME=VALUE (helpful=1, thumbs=true, verdict=good)")
            try:
                rows.append(
                    score_store.build_row(
                        target_kind=target_kind,
                        target_id=target_id,
                        name=name.strip(),
                        value=parse_value(text),
                        comment=args.comment,
                        source=args.source,
                        author=args.author,
                    )
                )
            except (TypeError, ValueError) as exc:
                raise CliError(f"--score {item!r}: {exc}") from None

        retry_locked(lambda: score_store.insert_rows(conn, rows))
        scores = score_store.scores_for(conn, target_kind, target_id)[-len(rows) :]
    if args.json:
        print_json(scores_json(scores))
        return 0
    console = make_console()
    console.print(Text(f"Scored {target_kind} ").append(one_line(target_id), style="bold"))
    console.print(scores_block([(f"{target_kind}:", s) for s in scores]))
    return 0
