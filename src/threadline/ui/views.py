"""What the pages show, computed from the store's query results (no web framework here).

:func:`timeline` turns a session's turns into the conversation timeline
(duration bars, interrupt → resume pairs and the rails that join them);
:func:`waterfall` turns a trace's span tree into waterfall rows with each
span's attributes. Numbers and times are :mod:`threadline.formatting`'s, as in the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline import semconv as sc
from threadline.formatting import fmt_cost, fmt_duration, fmt_local, fmt_tokens, turn_input_text, turn_output_text
from threadline.store.queries import SpanRow, TraceDetail, Turn
from threadline.store.scores import Score

__all__ = [
    "AttributeView",
    "PREVIEW_CHARS",
    "ScoreView",
    "SpanView",
    "TurnView",
    "fmt_time_short",
    "timeline",
    "usage_parts",
    "waterfall",
]

PREVIEW_CHARS = 1200
"""Inputs and outputs longer than this are folded (the rest one click away)."""
MAX_LANES = 3
"""Interrupt → resume pairs that overlap are drawn side by side, up to this many rails."""
MIN_BAR_PCT = 0.4


def fmt_time_short(ns: int | None, same_day_as: int | None = None, *, seconds: bool = False) -> str:
    """Local time to the minute (or second); the date is left out when it is the day of ``same_day_as``."""
    return fmt_local(ns, same_day_as, clock="%H:%M:%S" if seconds else "%H:%M")


def usage_parts(item: Any) -> list[tuple[str, str, str]]:
    """``(label, short value, exact value)`` for each token kind and the cost that ``item`` reports."""
    parts: list[tuple[str, str, str]] = []
    for label, attr in (
        ("in", "input_tokens"),
        ("out", "output_tokens"),
        ("cached", "cache_read_tokens"),
        ("cache write", "cache_write_tokens"),
        ("reasoning", "reasoning_tokens"),
    ):
        value = getattr(item, attr, None)
        if value is None or (value == 0 and attr not in ("input_tokens", "output_tokens")):
            continue
        parts.append((label, fmt_tokens(value), f"{value:,} tokens"))
    cost = getattr(item, "cost_usd", None)
    if cost is not None:
        parts.append(("cost", fmt_cost(cost), f"${cost:.8f}"))
    return parts


@dataclass(frozen=True)
class ScoreView:
    """One score as a page lists it: what it is on (``session``, ``turn 2``, ``trace``) and the score."""

    label: str
    trace_id: str | None
    """The scored trace, when the score is on one of the page's turns."""
    score: Score


# --- the session timeline --------------------------------------------------------------------


@dataclass
class TurnView:
    """One turn as the session page draws it."""

    turn: Turn
    input_text: str | None
    output_text: str | None
    bar_pct: float
    """The turn's duration as a share of the session's longest turn."""
    resumes: int | None = None
    """Index of the interrupted turn this one answers."""
    answered_by: int | None = None
    """Index of the turn that resumed this one."""
    wait_ms: float | None = None
    """For a resume: from the interrupted turn's end to this turn's start (the human's time)."""
    unmatched_resume: bool = False
    """A resume whose interrupted turn is not in this session's store."""
    rails: list[str] = field(default_factory=list)
    """Per rail lane: ``start``, ``through``, ``end`` or ``""``."""

    @property
    def outcome(self) -> str:
        """The turn's outcome: ok, error, interrupted, resumed or cancelled."""
        return self.turn.outcome


def timeline(turns: Sequence[Turn]) -> list[TurnView]:
    """A session's turns (in time order) with their interrupt → resume pairs found and laid out."""
    longest = max((t.duration_ms or 0.0 for t in turns), default=0.0)
    views = [
        TurnView(
            turn=t,
            input_text=turn_input_text(t),
            output_text=turn_output_text(t),
            bar_pct=_pct(t.duration_ms or 0.0, longest),
        )
        for t in turns
    ]
    by_index = {v.turn.index: v for v in views}
    pairs = _pairs(turns)
    for start, end in pairs:
        first, then = by_index[start], by_index[end]
        first.answered_by = end
        then.resumes = start
        if first.turn.end_ns is not None:
            then.wait_ms = max((then.turn.start_ns - first.turn.end_ns) / 1e6, 0.0)
    for v in views:
        if v.turn.is_resume and v.resumes is None:
            v.unmatched_resume = True
    _lay_rails(views, pairs)
    return views


def _pct(value: float, whole: float) -> float:
    if whole <= 0:
        return 100.0
    return max(round(100.0 * value / whole, 2), MIN_BAR_PCT)


def _pairs(turns: Sequence[Turn]) -> list[tuple[int, int]]:
    """``(interrupted turn, resuming turn)`` index pairs.

    A resume names the interrupt ids it answers; one that names none (or whose
    framework gave none) answers the latest turn still waiting for a human.
    """
    pairs: list[tuple[int, int]] = []
    waiting: list[int] = []
    by_interrupt: dict[str, int] = {}
    for t in turns:
        if t.is_resume:
            target = next((by_interrupt[i] for i in t.resume_interrupt_ids if i in by_interrupt), None)
            if target is None and not t.resume_interrupt_ids and waiting:
                target = waiting[-1]
            if target is not None:
                pairs.append((target, t.index))
                if target in waiting:
                    waiting.remove(target)
                for key in [k for k, v in by_interrupt.items() if v == target]:
                    del by_interrupt[key]
        if t.outcome == sc.OUTCOME_INTERRUPTED or t.interrupts:
            waiting.append(t.index)
            for interrupt in t.interrupts:
                if interrupt.id is not None:
                    by_interrupt[interrupt.id] = t.index
    return pairs


def _lay_rails(views: list[TurnView], pairs: list[tuple[int, int]]) -> None:
    """Give each pair a lane (free once its previous pair has ended) and mark each turn's rail cells."""
    lane_end: list[int] = []
    placed: list[tuple[int, int, int]] = []
    for start, end in sorted(pairs):
        lane = next((i for i, last in enumerate(lane_end) if last < start), None)
        if lane is None:
            if len(lane_end) >= MAX_LANES:
                continue  # still labelled in words on both turns
            lane_end.append(end)
            lane = len(lane_end) - 1
        lane_end[lane] = end
        placed.append((lane, start, end))
    lanes = len(lane_end)
    for v in views:
        cells = [""] * lanes
        i = v.turn.index
        for lane, start, end in placed:
            if i == start:
                cells[lane] = "start"
            elif i == end:
                cells[lane] = "end"
            elif start < i < end:
                cells[lane] = "through"
        v.rails = cells


# --- the trace waterfall ---------------------------------------------------------------------


@dataclass
class AttributeView:
    """One attribute, ready to show: long or structured values as a block."""

    key: str
    text: str
    block: bool


@dataclass
class SpanView:
    """One waterfall row."""

    span: SpanRow
    offset_pct: float
    width_pct: float
    state: str
    """``error``, ``interrupted``, ``cancelled``, ``open`` (never ended) or ``ok``."""
    attributes: list[AttributeView]
    events: list[dict[str, Any]]
    linked_traces: list[str]
    """Trace ids this span links to (a resume's interrupted trace)."""
    ttft_pct: float | None = None
    """Where the first token arrived, on the same axis (streamed model calls)."""


def waterfall(detail: TraceDetail) -> list[SpanView]:
    """The trace's spans in tree order, each placed on the trace's time axis."""
    start = detail.summary.start_ns
    end = detail.summary.end_ns
    if end is None:
        end = max((s.end_ns or s.start_ns for s in detail.spans), default=start)
    whole = max(end - start, 1)
    rows: list[SpanView] = []
    for span in detail.spans:
        span_end = span.end_ns if span.end_ns is not None else end
        offset = 100.0 * (span.start_ns - start) / whole
        width = max(100.0 * (span_end - span.start_ns) / whole, MIN_BAR_PCT)
        offset = min(max(offset, 0.0), 100.0 - MIN_BAR_PCT)
        ttft = None
        if span.ttft_ms is not None:
            ttft = round(min(100.0 * (span.start_ns + span.ttft_ms * 1e6 - start) / whole, 100.0), 3)
        rows.append(
            SpanView(
                span=span,
                offset_pct=round(offset, 3),
                width_pct=round(min(width, 100.0 - offset), 3),
                state=_state(span),
                attributes=[_attribute(k, v) for k, v in sorted(span.attributes.items())],
                events=[_event(e, span.start_ns) for e in span.events],
                linked_traces=_linked(span),
                ttft_pct=ttft,
            )
        )
    return rows


def _state(span: SpanRow) -> str:
    if span.status_code == "ERROR":
        return "error"
    if span.end_ns is None:
        return "open"
    if span.outcome in (sc.OUTCOME_INTERRUPTED, sc.OUTCOME_CANCELLED):
        return span.outcome
    return "ok"


def _attribute(key: str, value: Any) -> AttributeView:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) > 2:
            try:
                return AttributeView(key, json.dumps(json.loads(stripped), indent=2, ensure_ascii=False), True)
            except ValueError:
                pass
        return AttributeView(key, value, "\n" in value or len(value) > 120)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return AttributeView(key, text, len(text) > 120)
    return AttributeView(key, str(value).lower() if isinstance(value, bool) else str(value), False)


def _event(event: dict[str, Any], span_start: int) -> dict[str, Any]:
    at = event.get("time_ns", event.get("timestamp"))
    offset = fmt_duration((at - span_start) / 1e6) if isinstance(at, int) else None
    attributes = event.get("attributes") or {}
    return {
        "name": event.get("name", "event"),
        "offset": offset,
        "attributes": [_attribute(k, v) for k, v in sorted(attributes.items())],
    }


def _linked(span: SpanRow) -> list[str]:
    found: list[str] = []
    resumed = span.attributes.get(sc.RESUME_TRACE_ID)
    if isinstance(resumed, str) and resumed:
        found.append(resumed)
    for link in span.links:
        trace_id = link.get("trace_id") if isinstance(link, dict) else None
        if isinstance(trace_id, str) and trace_id and trace_id not in found and trace_id != span.trace_id:
            found.append(trace_id)
    return found
