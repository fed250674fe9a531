"""What the store's readers return: sessions, traces, turns and spans as frozen dataclasses.

Each has ``to_dict()`` for JSON output (times as ISO 8601 UTC and as Unix ns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _iso(ns: int | None) -> str | None:
    value = _dt(ns)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _json_ready(item: Any, **times: int | None) -> dict[str, Any]:
    """``item``'s fields with tuples as lists, then ``times`` (Unix ns) as ISO 8601 UTC, then ``duration_ms``."""
    out = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(item).items()}
    out.update({name: _iso(ns) for name, ns in times.items()})
    out["duration_ms"] = item.duration_ms
    return out


@dataclass(frozen=True)
class SessionSummary:
    """One row of the sessions table: a session's aggregate over its traces."""

    session_id: str
    first_start_ns: int
    """Start of the session's first trace (Unix ns)."""
    last_end_ns: int | None
    """End of the session's last trace (Unix ns)."""
    traces: int
    errors: int
    """Traces with an error span; interrupted traces never count."""
    interrupted: int
    """Traces whose root ended interrupted (waiting for a human)."""
    users: tuple[str, ...]
    models: tuple[str, ...]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    ttft_median_ms: float | None
    """Median time to first token over the session's streamed model calls."""
    total_tokens: int | None = None
    cost_input_usd: float | None = None
    cost_output_usd: float | None = None
    environment: str | None = None
    """``deployment.environment.name`` of the latest trace that has one."""
    tags: tuple[str, ...] = ()
    """The union of the tags of its traces."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The ``threadline.session(metadata=...)`` of its latest trace that has some."""
    original_id: str | None = None
    """The raw session id, when it was shortened to the ``h-...`` form."""
    model_usage: tuple[ModelUsage, ...] = ()
    """Tokens and cost per model (filled by :func:`get_session` and ``list_sessions(..., details=True)``)."""
    scores: tuple[ScoreSummary, ...] = ()

    @property
    def first_trace(self) -> datetime:
        """Start of the first trace, UTC."""
        value = _dt(self.first_start_ns)
        assert value is not None
        return value

    @property
    def last_trace(self) -> datetime | None:
        """End of the last trace, UTC."""
        return _dt(self.last_end_ns)

    @property
    def duration_ms(self) -> float | None:
        """From the first trace's start to the last trace's end."""
        if self.last_end_ns is None:
            return None
        return (self.last_end_ns - self.first_start_ns) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC and as Unix ns)."""
        return _json_ready(self, first_trace=self.first_start_ns, last_trace=self.last_end_ns)


@dataclass(frozen=True)
class TraceSummary:
    """One trace (one request or conversational turn), aggregated over its spans."""

    trace_id: str
    root_span_id: str | None
    name: str | None
    """The root span's name."""
    session_id: str | None
    start_ns: int
    end_ns: int | None
    spans: int
    error_spans: int
    outcome: str
    """``interrupted``, ``error``, ``cancelled``, ``resumed`` (a resume that went on) or ``ok``."""
    is_resume: bool
    users: tuple[str, ...]
    models: tuple[str, ...]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None

    @property
    def duration_ms(self) -> float | None:
        """From the first span's start to the last span's end."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e6

    @property
    def start(self) -> datetime:
        """The trace's start, UTC."""
        value = _dt(self.start_ns)
        assert value is not None
        return value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a turn's interrupts and the ids it resumes included)."""
        return _json_ready(self, start=self.start_ns, end=self.end_ns)


def display(value: Any) -> str:
    """A captured value for display: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


@dataclass(frozen=True)
class ModelUsage:
    """One model's calls in a session: tokens by kind and cost (input / output split when priced)."""

    model: str
    calls: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    cost_input_usd: float | None = None
    cost_output_usd: float | None = None


@dataclass(frozen=True)
class ScoreSummary:
    """The scores of one name on a session or trace: the mean of numeric ones, counts of categories."""

    name: str
    count: int
    mean: float | None = None
    """The mean of the numbers (a bool counts as 0 / 1); ``None`` when all are categories."""
    categories: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        """``helpful 0.8`` or ``verdict good×3 bad``."""
        shown = [] if self.mean is None else [fmt_number(self.mean)]
        ordered = sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        shown += [f"{value}×{n}" if n > 1 else value for value, n in ordered]
        return " ".join([self.name, *shown])


def scores_text(scores: Sequence[ScoreSummary]) -> str:
    """``helpful 0.8 · verdict good×3``; empty when nothing is scored."""
    return " · ".join(s.text() for s in scores)


def fmt_number(value: float) -> str:
    """``1``, ``0.8``, ``0.67``, ``1.2e+06``: at most three significant digits after rounding to 2 places."""
    rounded = round(value, 2)
    return f"{rounded:.3g}" if abs(rounded) < 1000 else f"{value:.3g}"


@dataclass(frozen=True)
class InterruptInfo:
    """One human-in-the-loop interrupt raised in a trace: its id and payload."""

    id: str | None
    value: Any
    """The payload as recorded (decoded from JSON when it was JSON)."""

    @property
    def text(self) -> str:
        """The payload for display: strings as they are, anything else as compact JSON."""
        return display(self.value)


@dataclass(frozen=True)
class Turn(TraceSummary):
    """A trace seen as one turn of a session's conversation."""

    index: int = 0
    """1-based position in the session."""
    input: str | None = None
    """The root span's ``input.value``."""
    output: str | None = None
    """The root span's ``output.value``."""
    error: str | None = None
    """``span name: status message`` of the first error span."""
    interrupts: tuple[InterruptInfo, ...] = ()
    resume_value: str | None = None
    """What the human answered, for a trace that resumes interrupts."""
    resume_interrupt_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionDetail:
    """A session's aggregate and its turns in time order (the conversation replay)."""

    summary: SessionSummary
    turns: list[Turn]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"session": self.summary.to_dict(), "turns": [t.to_dict() for t in self.turns]}


@dataclass(frozen=True)
class SpanRow:
    """One stored span, placed in its trace's tree (``depth`` 0 for a root)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str | None
    """``threadline.span.kind`` (model, tool, node, graph ...), ``None`` for others' spans."""
    start_ns: int
    end_ns: int | None
    status_code: str
    status_message: str | None
    outcome: str | None
    session_id: str | None
    user_id: str | None
    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    ttft_ms: float | None
    is_resume: bool
    interrupt_ids: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    depth: int = 0

    @property
    def duration_ms(self) -> float | None:
        """The span's duration."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return _json_ready(self, start=self.start_ns, end=self.end_ns)


@dataclass(frozen=True)
class TraceDetail:
    """A trace's aggregate and its spans in tree order (depth first, children by start)."""

    summary: TraceSummary
    spans: list[SpanRow]

    def children(self, span: SpanRow) -> list[SpanRow]:
        """The direct children of ``span``, by start time."""
        return [s for s in self.spans if s.parent_span_id == span.span_id and s.depth == span.depth + 1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"trace": self.summary.to_dict(), "spans": [s.to_dict() for s in self.spans]}


@dataclass(frozen=True)
class SessionPage:
    """One page of the sessions table, and how many sessions match the filters in all."""

    sessions: list[SessionSummary]
    total: int
    offset: int
    limit: int
    order_by: str
