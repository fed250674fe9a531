"""``threadline trace ID``: one trace's header line and its span tree (``--json``: the spans as JSON)."""

from __future__ import annotations

import argparse

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from threadline import semconv as sc
from threadline.cli.args import CliError, store_path
from threadline.cli.output import OUTCOME_STYLE, make_console, print_json, usage_text
from threadline.cli.scores import scores_block, scores_json
from threadline.formatting import fmt_duration, fmt_time
from threadline.store import queries
from threadline.store import scores as score_store
from threadline.store.reading import reading

__all__ = ["cmd_trace", "trace_tree"]


def _span_label(span: queries.SpanRow) -> Text:
    label = Text()
    label.append(span.name, style="bold")
    if span.kind:
        label.append(f"  {span.kind}", style="dim")
    label.append(f"  {fmt_duration(span.duration_ms)}")
    usage = usage_text(span)
    if usage:
        label.append(f"  {usage}")
    if span.ttft_ms is not None:
        label.append(f"  TTFT {fmt_duration(span.ttft_ms)}", style="dim")
    if span.status_code == "ERROR":
        message = f": {span.status_message}" if span.status_message else ""
        label.append(f"  ERROR{message}", style="bold red")
    elif span.outcome and span.outcome != "ok":
        label.append(f"  {span.outcome}", style=OUTCOME_STYLE.get(span.outcome, ""))
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
    head.append(t.outcome, style=OUTCOME_STYLE.get(t.outcome, ""))
    bits = []
    if t.session_id:
        bits.append(f"session {t.session_id}")
    if t.users:
        bits.append("user " + ", ".join(t.users))
    bits.append(fmt_time(t.start_ns))
    bits.append(fmt_duration(t.duration_ms))
    bits.append(f"{t.spans} span{'s' if t.spans != 1 else ''}")
    head.append("\n  " + " · ".join(bits))
    usage = usage_text(t)
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


def cmd_trace(args: argparse.Namespace) -> int:
    """``threadline trace ID``."""
    path = store_path(args)
    try:
        detail = queries.get_trace(path, args.trace_id)
    except queries.AmbiguousIdError as exc:
        raise CliError(str(exc)) from None
    if detail is None:
        raise CliError(f"no trace {args.trace_id!r} in {path} (list them with: threadline traces)")
    with reading(path) as conn:
        scores = score_store.scores_for(conn, sc.TARGET_TRACE, detail.summary.trace_id)
    if args.json:
        print_json({**detail.to_dict(), "scores": scores_json(scores)})
        return 0
    console = make_console()
    console.print(trace_tree(detail))
    if scores:
        console.print()
        console.print(scores_block([("trace:", s) for s in scores]))
    return 0
