"""``threadline sessions`` and ``threadline traces``: the store's listings as terminal tables.

::

    threadline sessions [--user U] [--since -1h] [--environment E] [--tag T] [--order FIELD] [--json]
    threadline traces [--session ID] [--user U] [--since -1h] [--json]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from threadline.cli.args import store_path, window
from threadline.cli.output import one_line, outcome_text, print_rows, short_time
from threadline.formatting import fmt_cost, fmt_duration, fmt_tokens
from threadline.store import queries
from threadline.store.results import scores_text

__all__ = ["WIDE_TABLE", "cmd_sessions", "cmd_traces", "sessions_table", "traces_table"]

WIDE_TABLE = 140  # from this many columns the sessions table gives users, models and last trace their own columns


# A box drawn in spaces: one space between columns, and a blank line after a row that ends a section.
# Rich draws a box once per row; the same text made of cell padding or a row of empty cells it measures
# and renders cell by cell, which was most of the cost of a 50-row sessions table.
_SPACES = box.Box("    \n" * 8, ascii=True)


def sessions_table(sessions: Sequence[queries.SessionSummary], width: int = WIDE_TABLE) -> Table:
    """The sessions table, laid out for a terminal ``width`` columns wide.

    Narrower than :data:`WIDE_TABLE`, each session's users and models go on
    dim lines under its id and the last trace under the first, so that every
    column fits in 100 columns. Environment, tags and scores (the mean of each
    numeric score, the count of each category) are a column each when wide and
    any session has them, a line under the id when narrow.
    """
    wide = width >= WIDE_TABLE
    env_column = wide and any(s.environment for s in sessions)
    tags_column = wide and any(s.tags for s in sessions)
    score_column = wide and any(s.scores for s in sessions)
    table = Table(
        box=_SPACES,
        show_header=False,  # the header is the first row: a header would be followed by a (blank) rule
        pad_edge=False,
        padding=0,
        show_edge=False,
        caption=(
            ("" if wide else "Under each session id: its users, then one line per model.  ")
            + "Err: traces with an error (interrupts never count).  Int: interrupted.  "
            "Cached: cache-read input tokens.  TTFT: median time to first token.  Times are local."
        ),
        caption_justify="left",
        caption_style="dim",
    )
    table.add_column("Session", overflow="fold", min_width=12, ratio=1)
    table.add_column("First" if wide else "First/Last", no_wrap=True)
    if wide:
        table.add_column("Last", no_wrap=True)
    table.add_column("Dur", justify="right", no_wrap=True)
    table.add_column("Traces", justify="right", no_wrap=True)
    table.add_column("Err", justify="right", no_wrap=True)
    table.add_column("Int", justify="right", no_wrap=True)
    if wide:
        table.add_column("Users", overflow="fold", ratio=1)
        table.add_column("Models", overflow="fold", ratio=1)
    if env_column:
        table.add_column("Env", overflow="fold")
    if tags_column:
        table.add_column("Tags", overflow="fold", ratio=1)
    if score_column:
        table.add_column("Scores", overflow="fold", ratio=1)
    table.add_column("In", justify="right", no_wrap=True)
    table.add_column("Out", justify="right", no_wrap=True)
    table.add_column("Cached", justify="right", no_wrap=True)
    table.add_column("Reason", justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True)
    table.add_column("TTFT", justify="right", no_wrap=True)
    table.add_row(*(Text(column.header, style="bold") for column in table.columns))  # type: ignore[arg-type]
    for i, s in enumerate(sessions):
        users = ", ".join(s.users) or "-"
        models = ", ".join(s.models) or "-"
        first = short_time(s.first_start_ns)
        last = short_time(s.last_end_ns, s.first_start_ns)
        summary = one_line(scores_text(s.scores))
        labels = " · ".join(filter(None, [s.environment or "", ", ".join(s.tags)]))
        if wide:
            lead = [Text(s.session_id, style="bold"), first, last]
        else:
            who = Text(s.session_id, style="bold")
            who.append("\n" + users + "".join("\n" + m for m in s.models or ("-",)), style="dim")
            if labels:
                who.append("\n" + one_line(labels), style="dim")
            if summary:
                who.append("\n" + summary, style="cyan")
            lead = [who, Text(f"{first}\n{last}")]
        counts = [
            fmt_duration(s.duration_ms),
            str(s.traces),
            Text(str(s.errors), style="red" if s.errors else ""),
            Text(str(s.interrupted), style="yellow" if s.interrupted else ""),
        ]
        if wide:
            counts += [users, models]
        if env_column:
            counts.append(s.environment or "-")
        if tags_column:
            counts.append(", ".join(s.tags) or "-")
        if score_column:
            counts.append(Text(summary or "-"))
        table.add_row(
            *lead,
            *counts,
            fmt_tokens(s.input_tokens),
            fmt_tokens(s.output_tokens),
            fmt_tokens(s.cache_read_tokens),
            fmt_tokens(s.reasoning_tokens),
            fmt_cost(s.cost_usd),
            fmt_duration(s.ttft_median_ms),
            end_section=not wide and i < len(sessions) - 1,  # a blank line between multi-line rows
        )
    return table


def traces_table(traces: Sequence[queries.TraceSummary]) -> Table:
    """Recent traces: id, start, root name, session, outcome, duration, spans, tokens, cost."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("Trace", no_wrap=True)
    table.add_column("Start", no_wrap=True)
    table.add_column("Name", overflow="fold", ratio=2)
    table.add_column("Session", overflow="fold", ratio=2)
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Dur", justify="right", no_wrap=True)
    table.add_column("Spans", justify="right", no_wrap=True)
    table.add_column("In", justify="right", no_wrap=True)
    table.add_column("Out", justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True)
    for t in traces:
        table.add_row(
            t.trace_id[:16],
            short_time(t.start_ns),
            t.name or "-",
            t.session_id or "-",
            outcome_text(t.outcome),
            fmt_duration(t.duration_ms),
            str(t.spans),
            fmt_tokens(t.input_tokens),
            fmt_tokens(t.output_tokens),
            fmt_cost(t.cost_usd),
        )
    return table


def cmd_sessions(args: argparse.Namespace) -> int:
    """``threadline sessions``."""
    path = store_path(args)
    sessions = queries.list_sessions(
        path, **window(args), order_by=args.order, environment=args.environment, tag=args.tag
    )
    return print_rows(sessions, path, "sessions", as_json=args.json, table=lambda c: sessions_table(sessions, c.width))


def cmd_traces(args: argparse.Namespace) -> int:
    """``threadline traces``."""
    path = store_path(args)
    traces = queries.list_traces(path, session_id=args.session, **window(args))
    return print_rows(traces, path, "traces", as_json=args.json, table=lambda _: traces_table(traces))
