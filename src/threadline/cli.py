"""``threadline``: read the local store from the terminal.

::

    threadline sessions [--user U] [--since -1h] [--json]   # the sessions table
    threadline session ID [--json]                          # the conversation replay, turn by turn
    threadline trace ID [--json]                            # one trace's span tree
    threadline traces [--session ID] [--json]               # recent traces
    threadline annotate ID --score helpful=1 [--comment C]  # score a session or a trace
    threadline search "refund" [--session ID] [--json]      # traces whose captured text matches
    threadline stats [--since -7d] [--by day|hour|model]    # cost, tokens, errors, latency over time
    threadline demo                                         # run the LangGraph demo into the store
    threadline ui [--port N]                                # the local web view (needs threadline[ui])

Every command takes ``--db PATH`` (default ``$THREADLINE_DB``, else
``.threadline/traces.db``). A missing store or an unknown id prints a message
on stderr and exits with status 1. Output has no colour when it is not a
terminal; ``--json`` prints machine-readable JSON instead of tables.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from threadline import cli_find, cli_lifecycle, inputs
from threadline import semconv as sc
from threadline.safe_text import clean, inert_console, json_text
from threadline.scores import parse_value
from threadline.store import queries
from threadline.store import scores as score_store
from threadline.store.lifecycle import connection
from threadline.store.reading import reading
from threadline.store.results import scores_text
from threadline.store.schema import StoreError, StoreNotFoundError, resolve_path, retry_locked

DEMO_MODULE = "threadline_langgraph.demo"
DEMO_INTEGRATIONS: tuple[str, ...] = ("langchain", "langgraph")
DEFAULT_WIDTH = 100  # when not a terminal and $COLUMNS is unset
PREVIEW_CHARS = 600

_OUTCOME_STYLE = {
    "ok": "green",
    "resumed": "cyan",
    "interrupted": "yellow",
    "error": "bold red",
    "cancelled": "magenta",
}


class CliError(Exception):
    """A user-facing failure: printed on stderr, exit status 1."""


# --- formatting ---------------------------------------------------------------------------


def _local(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9).astimezone()


def fmt_time(ns: int | None, *, since: int | None = None) -> str:
    """Local time; the date is left out when it is the same day as ``since``."""
    value = _local(ns)
    if value is None:
        return "-"
    ref = _local(since)
    if ref is not None and ref.date() == value.date():
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: float | None) -> str:
    """``0.4 ms``, ``850 ms``, ``1.25 s``, ``3m 05s``, ``2h 03m``."""
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"


def fmt_tokens(n: int | None) -> str:
    """``1,500``; ``12.3k`` from 10,000; ``1.2M`` from a million; ``-`` when not reported."""
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.1f}k"
    return f"{n:,}"


def fmt_cost(usd: float | None) -> str:
    """US dollars, with enough digits for a single cheap call; ``-`` when unknown."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}"
    if usd < 100:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def _usage_text(item: Any) -> str:
    parts: list[str] = []
    if item.input_tokens is not None:
        details = []
        if item.cache_read_tokens:
            details.append(f"cached {fmt_tokens(item.cache_read_tokens)}")
        if item.cache_write_tokens:
            details.append(f"cache write {fmt_tokens(item.cache_write_tokens)}")
        parts.append(f"in {fmt_tokens(item.input_tokens)}" + (f" ({', '.join(details)})" if details else ""))
    if item.output_tokens is not None:
        reasoning = f" (reasoning {fmt_tokens(item.reasoning_tokens)})" if item.reasoning_tokens else ""
        parts.append(f"out {fmt_tokens(item.output_tokens)}{reasoning}")
    if item.cost_usd is not None:
        parts.append(fmt_cost(item.cost_usd))
    return " · ".join(parts)


def _message_text(message: Any) -> str | None:
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        texts += [p for p in content if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def readable(value: str | None, *, last_only: bool) -> str | None:
    """The text of a captured value: for a ``{"messages": [...]}`` state, the message text.

    Inputs show every message given (usually the user's new one); outputs
    show the last message (the reply). Anything else is shown as recorded.
    """
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict) and set(data) == {"args", "kwargs"} and not data["kwargs"]:
        # @threadline.observe's capture of f("question"): the one argument is the input.
        args = data["args"]
        if isinstance(args, list) and len(args) == 1 and isinstance(args[0], str):
            return args[0]
    messages = data.get("messages") if isinstance(data, dict) else data if isinstance(data, list) else None
    if isinstance(messages, list) and messages:
        chosen = messages[-1:] if last_only else messages
        texts = [_message_text(m) for m in chosen]
        if all(t is not None for t in texts):
            return "\n".join(t for t in texts if t is not None)
    return value


def turn_input_text(turn: queries.Turn) -> str | None:
    """A turn's input to show, unless it only repeats what the human answered (a resume's input is the answer)."""
    text = readable(turn.input, last_only=False)
    if text is not None and turn.is_resume and turn.resume_value is not None:
        if _normalised(text) == _normalised(turn.resume_value):
            return None
    return text


def turn_output_text(turn: queries.Turn) -> str | None:
    """A turn's output to show; an interrupted turn's output is what it asked the human, shown as the interrupt."""
    if turn.outcome == "interrupted" and turn.interrupts:
        return None
    return readable(turn.output, last_only=True)


def _normalised(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _preview(text: str, full: bool) -> str:
    if full or len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + f"… [{len(text) - PREVIEW_CHARS} more characters; --full shows all]"


# --- rendering -----------------------------------------------------------------------------


def make_console(file: Any = None) -> Console:
    """A console that writes plain text (no colour, 100 columns) when not on a terminal.

    Stored text is never read as markup and loses its control characters (see :mod:`threadline.safe_text`).
    """
    stream = file if file is not None else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    width = None if is_tty or os.environ.get("COLUMNS") else DEFAULT_WIDTH
    return inert_console(file=file, width=width, soft_wrap=False)


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
        first = _local_short(s.first_start_ns)
        last = _local_short(s.last_end_ns, s.first_start_ns)
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


def _local_short(ns: int | None, same_day_as: int | None = None) -> str:
    value = _local(ns)
    if value is None:
        return "-"
    ref = _local(same_day_as)
    if ref is not None and ref.date() == value.date():
        return value.strftime("%H:%M")
    return value.strftime("%m-%d %H:%M")


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
            _local_short(t.start_ns),
            t.name or "-",
            t.session_id or "-",
            Text(t.outcome, style=_OUTCOME_STYLE.get(t.outcome, "")),
            fmt_duration(t.duration_ms),
            str(t.spans),
            fmt_tokens(t.input_tokens),
            fmt_tokens(t.output_tokens),
            fmt_cost(t.cost_usd),
        )
    return table


def _cost_split(item: Any) -> str:
    """`` (input $x, output $y)`` when the cost's split is known, else nothing."""
    if item.cost_input_usd is None and item.cost_output_usd is None:
        return ""
    return f" (input {fmt_cost(item.cost_input_usd)}, output {fmt_cost(item.cost_output_usd)})"


def session_header(s: queries.SessionSummary) -> Text:
    """A few lines summing up a session above its replay."""
    text = Text()
    text.append("Session ", style="bold")
    text.append(s.session_id, style="bold cyan")
    counts = [f"{s.traces} turn{'s' if s.traces != 1 else ''}"]
    if s.errors:
        counts.append(f"{s.errors} error{'s' if s.errors != 1 else ''}")
    if s.interrupted:
        counts.append(f"{s.interrupted} interrupted")
    when = f"{fmt_time(s.first_start_ns)} → {fmt_time(s.last_end_ns, since=s.first_start_ns)}"
    counts.append(f"{when} ({fmt_duration(s.duration_ms)})")
    text.append("\n  " + " · ".join(counts))
    who = []
    if s.users:
        who.append("users: " + ", ".join(s.users))
    if s.models:
        who.append("models: " + ", ".join(s.models))
    if who:
        text.append("\n  " + " · ".join(who))
    labels = []
    if s.environment:
        labels.append(f"environment: {s.environment}")
    if s.tags:
        labels.append("tags: " + ", ".join(s.tags))
    if s.metadata:
        labels.append("metadata: " + json.dumps(s.metadata, ensure_ascii=False, default=str))
    if labels:
        text.append("\n  " + " · ".join(labels))
    usage = _usage_text(s)
    if usage:
        text.append("\n  " + usage + _cost_split(s))
    if len(s.model_usage) > 1 or (s.model_usage and s.model_usage[0].model not in s.models):
        for m in s.model_usage:
            calls = f"{m.calls} call{'s' if m.calls != 1 else ''}"
            text.append(f"\n    {m.model or '(unknown model)'}: {calls} · {_usage_text(m)}{_cost_split(m)}")
    if s.ttft_median_ms is not None:
        text.append(f"\n  time to first token (median): {fmt_duration(s.ttft_median_ms)}")
    return text


class Fields:
    """Labelled values (``input:``, ``output:`` ...) with wrapped lines indented under the value.

    Unlike a table grid, it pads nothing, so piped output has no trailing spaces.
    """

    def __init__(self, indent: int = 2) -> None:
        self.indent = indent
        self.rows: list[tuple[str, str, str]] = []

    def add(self, label: str, value: str, style: str = "dim") -> None:
        """Add one ``label: value`` row."""
        self.rows.append((label, value, style))

    def __rich_console__(self, console: Console, options: Any) -> Any:
        if not self.rows:
            return
        label_width = max(len(label) for label, _, _ in self.rows) + 1
        left = self.indent + label_width
        width = max(options.max_width - left, 20)
        for label, value, style in self.rows:
            lines = Text(value).wrap(console, width, overflow="fold")
            for i, line in enumerate(lines):
                out = Text(" " * self.indent)
                if i == 0:
                    out.append(label.ljust(label_width), style=style)
                else:
                    out.append(" " * label_width)
                out.append_text(line)
                out.rstrip()
                yield out


def turn_block(turn: queries.Turn, *, full: bool = False, first_ns: int | None = None) -> Group:
    """One turn of the replay: a heading line, then input, interrupts, resume value, error, output."""
    head = Text()
    head.append(f"Turn {turn.index}", style="bold")
    head.append(f" · {fmt_time(turn.start_ns, since=first_ns)} · ")
    head.append(turn.outcome, style=_OUTCOME_STYLE.get(turn.outcome, ""))
    head.append(f" · {fmt_duration(turn.duration_ms)} · trace {turn.trace_id[:12]}", style="dim")

    grid = Fields()
    if turn.is_resume:
        value = turn.resume_value if turn.resume_value is not None else "(no value recorded)"
        grid.add("resumed with:", _preview(value, full), "cyan")
    user_input = turn_input_text(turn)
    if user_input is not None:
        grid.add("input:", _preview(user_input, full))
    if turn.error and turn.outcome != "interrupted":
        grid.add("error:", _preview(turn.error, full), "red")
    for interrupt in turn.interrupts:
        payload = interrupt.text if interrupt.value is not None else f"(payload not recorded; id {interrupt.id})"
        grid.add("interrupted:", _preview(payload, full), "yellow")
    if turn.outcome == "interrupted" and not turn.interrupts:
        grid.add("interrupted:", "(no payload recorded)", "yellow")
    output = turn_output_text(turn)
    if output is not None:
        grid.add("output:", _preview(output, full))
    usage = _usage_text(turn)
    if usage:
        grid.add("usage:", usage)
    return Group(head, grid)


def replay(detail: queries.SessionDetail, *, full: bool = False) -> Group:
    """A session's conversation replay."""
    parts: list[Any] = [session_header(detail.summary)]
    for turn in detail.turns:
        parts.append(Text())
        parts.append(turn_block(turn, full=full, first_ns=detail.summary.first_start_ns))
    return Group(*parts)


def _span_label(span: queries.SpanRow) -> Text:
    label = Text()
    label.append(span.name, style="bold")
    if span.kind:
        label.append(f"  {span.kind}", style="dim")
    label.append(f"  {fmt_duration(span.duration_ms)}")
    usage = _usage_text(span)
    if usage:
        label.append(f"  {usage}")
    if span.ttft_ms is not None:
        label.append(f"  TTFT {fmt_duration(span.ttft_ms)}", style="dim")
    if span.status_code == "ERROR":
        message = f": {span.status_message}" if span.status_message else ""
        label.append(f"  ERROR{message}", style="bold red")
    elif span.outcome and span.outcome != "ok":
        label.append(f"  {span.outcome}", style=_OUTCOME_STYLE.get(span.outcome, ""))
        if span.interrupt_ids:
            label.append(f" ({', '.join(span.interrupt_ids)})", style="yellow")
    if span.is_resume:
        label.append("  resume", style="cyan")
    return label


def trace_tree(detail: queries.TraceDetail) -> Group:
    """A trace's header line and its span tree."""
    t = detail.summary
    head = Text()
    head.append("Trace ", style="bold")
    head.append(t.trace_id, style="bold cyan")
    head.append("  ")
    head.append(t.outcome, style=_OUTCOME_STYLE.get(t.outcome, ""))
    bits = []
    if t.session_id:
        bits.append(f"session {t.session_id}")
    if t.users:
        bits.append("user " + ", ".join(t.users))
    bits.append(fmt_time(t.start_ns))
    bits.append(fmt_duration(t.duration_ms))
    bits.append(f"{t.spans} span{'s' if t.spans != 1 else ''}")
    head.append("\n  " + " · ".join(bits))
    usage = _usage_text(t)
    if usage:
        head.append("\n  " + usage)

    roots: list[Tree] = []
    stack: list[Tree] = []
    for span in detail.spans:
        del stack[span.depth :]
        if not stack:
            node = Tree(_span_label(span), guide_style="dim")
            roots.append(node)
        else:
            node = stack[-1].add(_span_label(span))
        stack.append(node)
    return Group(head, *roots)


# --- scores ---------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Stored text on one line, without control characters (:func:`threadline.safe_text.clean`)."""
    return clean(text).replace("\n", " ")


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


def _session_scores(
    conn: sqlite3.Connection, detail: queries.SessionDetail
) -> tuple[list[score_store.Score], dict[str, list[score_store.Score]]]:
    own = score_store.scores_for(conn, sc.TARGET_SESSION, detail.summary.session_id)
    by_trace = score_store.scores_by_target(conn, sc.TARGET_TRACE, [t.trace_id for t in detail.turns])
    return own, by_trace


def _scores_json(scores: Sequence[score_store.Score]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in scores]


# --- commands -----------------------------------------------------------------------------


def _time_arg(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return inputs.time(value, flag)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _label(text: str) -> str | None:
    """The argparse ``type`` of ``--environment`` / ``--tag``: :func:`threadline.inputs.label`."""
    try:
        return inputs.label(text, "")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    """The argparse ``type`` of row counts (``--limit``, ``--offset``): :func:`threadline.inputs.count`."""
    try:
        return inputs.count(text, "", default=0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store(args: argparse.Namespace) -> Path:
    return resolve_path(args.db)


def _print_json(data: Any) -> None:
    sys.stdout.write(json_text(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")


def cmd_sessions(args: argparse.Namespace) -> int:
    """``threadline sessions``."""
    path = _store(args)
    sessions = queries.list_sessions(
        path,
        user=args.user,
        since=_time_arg(args.since, "--since"),
        until=_time_arg(args.until, "--until"),
        limit=args.limit,
        offset=args.offset,
        order_by=args.order,
        environment=args.environment,
        tag=args.tag,
    )
    if args.json:
        _print_json([s.to_dict() for s in sessions])
        return 0
    console = make_console()
    if not sessions:
        console.print(f"No sessions in {path} (matching these filters).")
        return 0
    console.print(sessions_table(sessions, console.width))
    return 0


def cmd_session(args: argparse.Namespace) -> int:
    """``threadline session ID``."""
    path = _store(args)
    detail = queries.get_session(path, args.session_id)
    if detail is None:
        raise CliError(f"no session {args.session_id!r} in {path} (list them with: threadline sessions)")
    with reading(path) as conn:
        own, by_trace = _session_scores(conn, detail)
    if args.json:
        data = detail.to_dict()  # data["session"]["scores"]: the summary by name
        data["scores"] = _scores_json(own)
        for turn in data["turns"]:
            turn["scores"] = _scores_json(by_trace.get(turn["trace_id"], []))
        _print_json(data)
        return 0
    console = make_console()
    console.print(replay(detail, full=args.full))
    labelled = [("session:", s) for s in own] + [
        (f"turn {t.index}:", s) for t in detail.turns for s in by_trace.get(t.trace_id, [])
    ]
    if labelled:
        console.print()
        console.print(scores_block(labelled))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """``threadline trace ID``."""
    path = _store(args)
    try:
        detail = queries.get_trace(path, args.trace_id)
    except queries.AmbiguousIdError as exc:
        raise CliError(str(exc)) from None
    if detail is None:
        raise CliError(f"no trace {args.trace_id!r} in {path} (list them with: threadline traces)")
    with reading(path) as conn:
        scores = score_store.scores_for(conn, sc.TARGET_TRACE, detail.summary.trace_id)
    if args.json:
        _print_json({**detail.to_dict(), "scores": _scores_json(scores)})
        return 0
    console = make_console()
    console.print(trace_tree(detail))
    if scores:
        console.print()
        console.print(scores_block([("trace:", s) for s in scores]))
    return 0


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
    path = _store(args)
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
        _print_json(_scores_json(scores))
        return 0
    console = make_console()
    console.print(Text(f"Scored {target_kind} ").append(one_line(target_id), style="bold"))
    console.print(scores_block([(f"{target_kind}:", s) for s in scores]))
    return 0


def cmd_traces(args: argparse.Namespace) -> int:
    """``threadline traces``."""
    path = _store(args)
    traces = queries.list_traces(
        path,
        session_id=args.session,
        user=args.user,
        since=_time_arg(args.since, "--since"),
        until=_time_arg(args.until, "--until"),
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:
        _print_json([t.to_dict() for t in traces])
        return 0
    console = make_console()
    if not traces:
        console.print(f"No traces in {path} (matching these filters).")
        return 0
    console.print(traces_table(traces))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``threadline demo``: run the LangGraph demo into the store, then show what it recorded."""
    try:
        found = importlib.util.find_spec(DEMO_MODULE) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise CliError(
            f"the demo needs {DEMO_MODULE} (the threadline-langgraph integration); install it with "
            "`./dev demo` from the repository root or `pip install -e integrations/langgraph`"
        )
    import threadline
    from threadline.exporters.sqlite import SQLiteSpanExporter
    from threadline.plugins import UnknownIntegrationError

    path = _store(args)
    try:
        threadline.instrument(exporter=SQLiteSpanExporter(path), integrations=list(DEMO_INTEGRATIONS))
    except UnknownIntegrationError as exc:
        raise CliError(f"the demo needs the langchain and langgraph integrations: {exc}") from None
    try:
        session_ids = [str(i) for i in importlib.import_module(DEMO_MODULE).run() or []]
        threadline.flush()
        console = make_console()
        console.print(f"Demo traces written to {path}\n")
        sessions = queries.list_sessions(path, session_ids=session_ids, order_by="first_trace", limit=len(session_ids))
        if sessions:
            console.print(sessions_table(sessions, console.width))
        for session_id in session_ids:
            detail = queries.get_session(path, session_id)
            if detail is not None:
                console.print()
                console.print(replay(detail))
        db_flag = "" if args.db is None else f" --db {path}"
        console.print(
            f"\nExplore the store:\n  threadline sessions{db_flag}\n  threadline session SESSION_ID{db_flag}"
            f"\n  threadline trace TRACE_ID{db_flag}"
        )
    finally:
        threadline.shutdown()
    return 0


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH", default=None, help="the store (default: $THREADLINE_DB, else .threadline/traces.db)"
    )


def _add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="U", help="only where this user id appears")
    parser.add_argument("--since", metavar="TIME", help="ISO time (local unless zoned) or relative: -1h, 30m, 2d")
    parser.add_argument("--until", metavar="TIME", help="ISO time or relative, as --since")
    parser.add_argument("--limit", type=_count, default=50, metavar="N", help="at most N rows (default 50)")
    parser.add_argument("--offset", type=_count, default=0, metavar="N", help="skip the first N rows")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    """The ``threadline`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="threadline",
        description="Read threadline's local trace store: sessions, conversation replays, span trees.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sessions", help="the sessions table, most recent first")
    _add_db(p)
    _add_window(p)
    p.add_argument(
        "--order",
        default="-last_trace",
        metavar="FIELD",
        help="last_trace, first_trace, duration_ms, traces, errors, interrupted, input_tokens, output_tokens, "
        "cost_usd, ttft_median_ms or session_id; prefix '-' for descending (default -last_trace)",
    )
    p.add_argument(
        "--environment", metavar="ENV", type=_label, help="only sessions in this environment (e.g. production)"
    )
    p.add_argument("--tag", metavar="TAG", type=_label, help="only sessions with this tag")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("session", help="a session's conversation replay, turn by turn")
    p.add_argument("session_id", metavar="ID")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--full", action="store_true", help="show long inputs and outputs in full")
    p.set_defaults(func=cmd_session)

    p = sub.add_parser("trace", help="one trace's span tree (ID may be a unique prefix)")
    p.add_argument("trace_id", metavar="ID")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("traces", help="recent traces, with or without a session")
    _add_db(p)
    p.add_argument("--session", metavar="ID", help="only this session's traces")
    _add_window(p)
    p.set_defaults(func=cmd_traces)

    p = sub.add_parser(
        "annotate",
        help="score a session or a trace: --score helpful=1 --score verdict=good --comment '...'",
        description="Score a session or a trace. ID is a trace id (or a unique prefix) when such a trace exists, "
        "else a session id; --trace / --session decide. VALUE: a number (1, 0.8), true/false, or a category.",
    )
    p.add_argument("target", metavar="SESSION_OR_TRACE")
    _add_db(p)
    forced = p.add_mutually_exclusive_group()
    forced.add_argument("--trace", action="store_true", help="ID is a trace id")
    forced.add_argument("--session", action="store_true", help="ID is a session id")
    p.add_argument("--score", action="append", required=True, metavar="NAME=VALUE", help="a score (repeatable)")
    p.add_argument("--comment", metavar="TEXT", help="a comment kept with each score")
    p.add_argument("--author", metavar="NAME", help="who scored")
    p.add_argument("--source", default="annotation", metavar="S", help="where the score comes from (annotation)")
    p.add_argument("--json", action="store_true", help="print the stored scores as JSON")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("demo", help="run the LangGraph demo (offline) into the store and show it")
    _add_db(p)
    p.set_defaults(func=cmd_demo)

    cli_lifecycle.add_commands(sub, _add_db)
    cli_find.add_commands(sub, _add_db)

    # `threadline ui` parses its own options (threadline.ui.run_cli); listed here for --help.
    sub.add_parser("ui", help="the local web view of the store (127.0.0.1 only; needs threadline[ui])", add_help=False)
    return parser


def _join_negative_times(argv: Sequence[str]) -> list[str]:
    """``--since -1h`` -> ``--since=-1h`` (argparse would take ``-1h`` for an option)."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item in ("--since", "--until") and i + 1 < len(items) and items[i + 1].startswith("-"):
            out.append(f"{item}={items[i + 1]}")
            i += 2
            continue
        out.append(item)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 not found or unusable store, 2 bad usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ui"]:
        from threadline.ui import run_cli

        return run_cli(argv[1:])
    parser = build_parser()
    args = parser.parse_args(_join_negative_times(argv))
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except StoreNotFoundError as exc:
        print(
            f"threadline: {exc}. Run an app that calls threadline.instrument() first, "
            "or point at a store with --db PATH or $THREADLINE_DB.",
            file=sys.stderr,
        )
    except (StoreError, CliError, cli_lifecycle.LifecycleError) as exc:
        print(f"threadline: {exc}", file=sys.stderr)
    except ValueError as exc:  # e.g. an --order field that does not exist
        print(f"threadline: {exc}", file=sys.stderr)
    except sqlite3.Error as exc:
        print(f"threadline: could not read the store: {exc}", file=sys.stderr)
    except BrokenPipeError:  # `threadline sessions | head`
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
