"""The ``threadline`` commands that find and sum up: ``search`` and ``stats``.

::

    threadline search "refund" [--session ID] [--since -7d] [--until T] [--limit N] [--json]
    threadline stats [--since -30d] [--until T] [--by day|hour|model] [--json]

Registered on the CLI's parser by :func:`add_commands`. Text from traces is
printed as inert :class:`rich.text.Text` with control characters escaped.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from threadline.cli.args import add_db, count, store_path, time_arg
from threadline.cli.output import make_console, outcome_text, print_json, safe, short_time
from threadline.formatting import fmt_cost, fmt_duration, fmt_tokens
from threadline.store import search as store_search
from threadline.store import stats as store_stats

__all__ = ["add_commands", "hits_table", "stats_table"]


def hits_table(hits: list[store_search.SearchHit]) -> Table:
    """Matching traces: trace, start, session, outcome, the matching span and its snippet."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("Trace", no_wrap=True)
    table.add_column("Start", no_wrap=True)
    table.add_column("Session", overflow="fold", ratio=1)
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Span", overflow="fold", ratio=1)
    table.add_column("Match", overflow="fold", ratio=4)
    for h in hits:
        snippet = Text()
        for part, matched in h.snippet:
            snippet.append(safe(part), style="bold yellow" if matched else "")
        table.add_row(
            h.trace_id[:16],
            short_time(h.start_ns),
            safe(h.session_id),
            outcome_text(h.outcome or "-"),
            safe(h.span_name),
            snippet,
        )
    return table


def cmd_search(args: argparse.Namespace) -> int:
    """``threadline search QUERY``."""
    path = store_path(args)
    hits = store_search.search(
        path,
        args.query,
        session_id=args.session,
        since=time_arg(args.since, "--since"),
        until=time_arg(args.until, "--until"),
        limit=max(args.limit, 1),
    )
    if args.json:
        print_json([h.to_dict() for h in hits])
        return 0
    console = make_console()
    if not hits:
        console.print(Text(f"No traces in {path} match {safe(args.query)!r}."))
        return 0
    console.print(hits_table(hits))
    more = " (the newest; --limit shows more)" if len(hits) >= args.limit else ""
    console.print(Text(f"{len(hits)} matching trace{'s' if len(hits) != 1 else ''}{more}", style="dim"))
    return 0


def stats_table(stats: store_stats.Stats) -> Table:
    """``--by day|hour``: one row per bucket; ``--by model``: one row per model."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    if stats.by == "model":
        for name in ("Model", "Calls", "In", "Out", "Total", "Cost"):
            table.add_column(name, justify="left" if name == "Model" else "right", no_wrap=True)
        for m in stats.models:
            table.add_row(
                safe(m.model),
                f"{m.calls:,}",
                fmt_tokens(m.input_tokens),
                fmt_tokens(m.output_tokens),
                fmt_tokens(m.total_tokens),
                fmt_cost(m.cost_usd),
            )
        return table
    when = "%Y-%m-%d %H:00" if stats.by == "hour" else "%Y-%m-%d"
    for name in ("Start", "Traces", "Errors", "Int", "Tokens", "Cost", "p50", "p95", "TTFT p50", "TTFT p95"):
        table.add_column(name, justify="left" if name == "Start" else "right", no_wrap=True)

    def row(label: str, b: store_stats.Bucket) -> list[Any]:
        return [
            label,
            str(b.traces),
            Text(str(b.errors), style="red" if b.errors else ""),
            str(b.interrupted),
            fmt_tokens(b.total_tokens),
            fmt_cost(b.cost_usd),
            fmt_duration(b.latency_p50_ms),
            fmt_duration(b.latency_p95_ms),
            fmt_duration(b.ttft_p50_ms),
            fmt_duration(b.ttft_p95_ms),
        ]

    for b in stats.buckets:
        table.add_row(*row(datetime.fromtimestamp(b.start_ns / 1e9).strftime(when), b))
    if len(stats.buckets) > 1:
        table.add_row(*[Text(str(v), style="bold") if isinstance(v, str) else v for v in row("All", stats.total)])
    return table


def cmd_stats(args: argparse.Namespace) -> int:
    """``threadline stats``."""
    path = store_path(args)
    result = store_stats.usage_stats(
        path,
        since=time_arg(args.since, "--since"),
        until=time_arg(args.until, "--until"),
        by="day" if args.by == "model" else args.by,
    )
    if args.by == "model":
        result.by = "model"
    if args.json:
        print_json(result.to_dict())
        return 0
    console = make_console()
    if not result.total.traces:
        console.print(f"No traces in {path} (in this window).")
        return 0
    console.print(stats_table(result))
    console.print(
        Text(
            "p50 / p95: turn (trace) duration.  TTFT: time to first token of streamed calls.  "
            "Days are local; cost only where the model had a known price; --by model splits it by model.",
            style="dim",
        )
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``search`` and ``stats`` to the CLI's subparsers."""
    p = sub.add_parser("search", help="traces whose captured inputs, outputs, tool calls or interrupts match")
    p.add_argument("query", metavar="QUERY", help='words (all must match), "a phrase", OR, NOT, prefix*')
    add_db(p)
    p.add_argument("--session", metavar="ID", help="search within this session")
    p.add_argument("--since", metavar="TIME", help="spans that started since: ISO time or relative (-1h, 2d)")
    p.add_argument("--until", metavar="TIME", help="ISO time or relative, as --since")
    p.add_argument("--limit", type=count, default=50, metavar="N", help="at most N traces, newest first (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("stats", help="cost, tokens, traces, errors and latency per day, hour or model")
    add_db(p)
    p.add_argument("--since", metavar="TIME", help="traces that started since (default: all): -7d, 2026-05-01")
    p.add_argument("--until", metavar="TIME", help="ISO time or relative, as --since")
    p.add_argument(
        "--by", choices=("day", "hour", "model"), default="day", help="one row per day (default), hour or model"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_stats)
