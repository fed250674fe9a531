"""``threadline session ID``: one session's conversation replayed turn by turn.

A header sums up the session (turns, errors, interrupts, time, users,
models, labels, usage and cost by model); each turn then shows its input,
interrupts, resume value, error, output and usage. ``--json`` prints the
session, its turns and their scores instead.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Group
from rich.text import Text

from threadline.cli.args import CliError, store_path
from threadline.cli.output import OUTCOME_STYLE, Fields, cost_split, make_console, print_json, usage_text
from threadline.cli.scores import scores_block, scores_json, session_scores
from threadline.formatting import fmt_duration, fmt_time, turn_input_text, turn_output_text
from threadline.store import queries
from threadline.store.reading import reading

__all__ = ["PREVIEW_CHARS", "cmd_session", "replay", "session_header", "turn_block"]

PREVIEW_CHARS = 600


def _preview(text: str, full: bool) -> str:
    if full or len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + f"… [{len(text) - PREVIEW_CHARS} more characters; --full shows all]"


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
    usage = usage_text(s)
    if usage:
        text.append("\n  " + usage + cost_split(s))
    if len(s.model_usage) > 1 or (s.model_usage and s.model_usage[0].model not in s.models):
        for m in s.model_usage:
            calls = f"{m.calls} call{'s' if m.calls != 1 else ''}"
            text.append(f"\n    {m.model or '(unknown model)'}: {calls} · {usage_text(m)}{cost_split(m)}")
    if s.ttft_median_ms is not None:
        text.append(f"\n  time to first token (median): {fmt_duration(s.ttft_median_ms)}")
    return text


def turn_block(turn: queries.Turn, *, full: bool = False, first_ns: int | None = None) -> Group:
    """One turn of the replay: a heading line, then input, interrupts, resume value, error, output."""
    head = Text()
    head.append(f"Turn {turn.index}", style="bold")
    head.append(f" · {fmt_time(turn.start_ns, since=first_ns)} · ")
    head.append(turn.outcome, style=OUTCOME_STYLE.get(turn.outcome, ""))
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
    usage = usage_text(turn)
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


def cmd_session(args: argparse.Namespace) -> int:
    """``threadline session ID``."""
    path = store_path(args)
    detail = queries.get_session(path, args.session_id)
    if detail is None:
        raise CliError(f"no session {args.session_id!r} in {path} (list them with: threadline sessions)")
    with reading(path) as conn:
        own, by_trace = session_scores(conn, detail)
    if args.json:
        data = detail.to_dict()  # data["session"]["scores"]: the summary by name
        data["scores"] = scores_json(own)
        for turn in data["turns"]:
            turn["scores"] = scores_json(by_trace.get(turn["trace_id"], []))
        print_json(data)
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
