"""Usage over time: cost, tokens, traces, errors and latency per day (or hour) and per model.

Everything is read from the trace rollups (``traces``: one row per trace, its
usage per model in ``model_usage``) through the start-time index, never from
spans. Buckets are local days or hours; latency is a trace's duration (one turn),
time to first token each streamed model call's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from threadline.store.reading import Db, TimeArg, fetch, ns, reading
from threadline.store.results import _iso

__all__ = ["BUCKETS", "Bucket", "ModelTotals", "Stats", "percentile", "usage_stats"]

BUCKETS: dict[str, int] = {"hour": 3600 * 10**9, "day": 86400 * 10**9}
"""Bucket widths in ns."""
MAX_BUCKETS = 2000


@dataclass
class ModelTotals:
    """One model's calls in a bucket (or the whole window): tokens and cost."""

    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None

    def add(self, entry: Sequence[Any]) -> None:
        """Add one ``model_usage`` entry ([calls, in, out, cache read, cache write, reasoning, total, cost, ...])."""
        self.calls += entry[0] or 0
        tokens_in, tokens_out, total, cost = entry[1] or 0, entry[2] or 0, entry[6], entry[7]
        self.input_tokens += tokens_in
        self.output_tokens += tokens_out
        self.total_tokens += total if total is not None else tokens_in + tokens_out
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost


@dataclass
class Bucket:
    """One day or hour: its traces, errors, usage per model and latency percentiles."""

    start_ns: int
    traces: int = 0
    errors: int = 0
    interrupted: int = 0
    models: dict[str, ModelTotals] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None

    @property
    def cost_usd(self) -> float | None:
        """Cost of every priced call in the bucket; ``None`` when none was priced."""
        costs = [m.cost_usd for m in self.models.values() if m.cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def total_tokens(self) -> int:
        """Tokens of every call in the bucket."""
        return sum(m.total_tokens for m in self.models.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["models"] = [asdict(m) for m in self.models.values()]
        out["start"] = _iso(self.start_ns)
        out["cost_usd"] = self.cost_usd
        out["total_tokens"] = self.total_tokens
        return out


@dataclass
class Stats:
    """The window's buckets (oldest first, empty ones included) and its totals."""

    by: str
    since_ns: int | None
    until_ns: int | None
    buckets: list[Bucket]
    total: Bucket
    """The whole window (``start_ns`` is its first bucket's)."""
    models: list[ModelTotals]
    """Per model over the window, costliest first."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "by": self.by,
            "since": _iso(self.since_ns),
            "until": _iso(self.until_ns),
            "total": self.total.to_dict(),
            "models": [asdict(m) for m in self.models],
            "buckets": [b.to_dict() for b in self.buckets],
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` by linear interpolation; ``None`` for none."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    return float(statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1])


# A trace's bucket (its local day or hour, as Unix ns), computed by SQLite so that it can group.
_BUCKET = "((t.start_ns + :offset) / :width * :width - :offset)"
_TRACES_SQL = (
    f"SELECT {_BUCKET} AS b, count(*), sum(t.outcome = 'error'), sum(t.interrupted != 0) "
    "FROM traces AS t WHERE {window} GROUP BY b"
)
_DURATIONS_SQL = f"SELECT {_BUCKET}, t.end_ns - t.start_ns FROM traces AS t WHERE {{window}} AND t.end_ns IS NOT NULL"


def _entry(i: int) -> str:
    return f"json_extract(m.value, '$[{i}]')"


# model_usage entries: [calls, in, out, cache read, cache write, reasoning, total, cost, input cost, output cost].
_MODELS_SQL = (
    f"SELECT {_BUCKET} AS b, m.key, coalesce(sum({_entry(0)}), 0), coalesce(sum({_entry(1)}), 0), "
    f"coalesce(sum({_entry(2)}), 0), "
    f"coalesce(sum(coalesce({_entry(6)}, coalesce({_entry(1)}, 0) + coalesce({_entry(2)}, 0))), 0), "
    f"sum({_entry(7)}) "
    "FROM traces AS t, json_each(t.model_usage) AS m WHERE {window} AND t.model_usage IS NOT NULL GROUP BY b, m.key"
)
_TTFT_SQL = (
    f"SELECT {_BUCKET}, f.value FROM traces AS t, json_each(t.ttfts) AS f "
    "WHERE {window} AND t.ttfts IS NOT NULL AND t.ttfts != '[]'"
)


def _window(params: dict[str, int | None]) -> str:
    """The WHERE terms of the window, written out (a ``:since IS NULL OR ...`` term would hide the index)."""
    terms = ["t.start_ns >= :since"] if params["since"] is not None else []
    if params["until"] is not None:
        terms.append("t.start_ns <= :until")
    return " AND ".join(terms) or "1"


def _local_offset_ns() -> int:
    offset = datetime.now().astimezone().utcoffset()
    return int(offset.total_seconds()) * 10**9 if offset is not None else 0


def usage_stats(db: Db, since: TimeArg = None, until: TimeArg = None, by: str = "day") -> Stats:
    """Per-``by`` (``day`` or ``hour``, local time) buckets of the traces that started in the window.

    Empty buckets are included (a chart's gaps are real): every bucket of the
    window from ``since`` to ``until`` (or now), else from the first trace to
    the last, up to :data:`MAX_BUCKETS`.
    """
    width = BUCKETS.get(by)
    if width is None:
        raise ValueError(f"cannot group by {by!r}; use one of {sorted(BUCKETS)}")
    offset = _local_offset_ns()
    params: dict[str, Any] = {"since": ns(since), "until": ns(until), "offset": offset, "width": width}

    def bucket_of(start: int) -> int:
        return (start + offset) // width * width - offset

    buckets: dict[int, Bucket] = {}
    latencies: dict[int, list[float]] = {}
    ttfts: dict[int, list[float]] = {}
    window = _window(params)
    with reading(db) as conn:  # each query reads the covering index traces_stats (store.tables.SCHEMA_V3_ADDITIONS)
        for key, traces, errors, interrupted in fetch(conn, _TRACES_SQL.format(window=window), params):
            buckets[key] = Bucket(key, traces=traces, errors=errors or 0, interrupted=interrupted or 0)
        for key, duration in fetch(conn, _DURATIONS_SQL.format(window=window), params):
            latencies.setdefault(key, []).append(duration / 1e6)
        for key, model, calls, tokens_in, tokens_out, total, cost in fetch(
            conn, _MODELS_SQL.format(window=window), params
        ):
            buckets[key].models[model] = ModelTotals(model, calls, tokens_in, tokens_out, total, cost)
        for key, value in fetch(conn, _TTFT_SQL.format(window=window), params):
            ttfts.setdefault(key, []).append(float(value))
    if buckets or params["since"] is not None:
        # The whole window when one is given (a chart shows quiet days as quiet), else first to last trace.
        first = bucket_of(params["since"]) if params["since"] is not None else min(buckets)
        last = bucket_of(params["until"] if params["until"] is not None else time.time_ns())
        last = max(last, *buckets) if buckets else last
        if first <= last and (last - first) // width < MAX_BUCKETS:
            for key in range(first, last + 1, width):
                buckets.setdefault(key, Bucket(key))
    ordered = [buckets[k] for k in sorted(buckets)]
    for b in ordered:
        b.latency_p50_ms, b.latency_p95_ms = _p50_p95(latencies.get(b.start_ns, []))
        b.ttft_p50_ms, b.ttft_p95_ms = _p50_p95(ttfts.get(b.start_ns, []))
    total = Bucket(ordered[0].start_ns if ordered else 0)
    per_model: dict[str, ModelTotals] = {}
    for b in ordered:
        total.traces += b.traces
        total.errors += b.errors
        total.interrupted += b.interrupted
        for m in b.models.values():
            mine = per_model.setdefault(m.model, ModelTotals(m.model))
            mine.add([m.calls, m.input_tokens, m.output_tokens, None, None, None, m.total_tokens, m.cost_usd])
    total.models = per_model
    total.latency_p50_ms, total.latency_p95_ms = _p50_p95([v for vs in latencies.values() for v in vs])
    total.ttft_p50_ms, total.ttft_p95_ms = _p50_p95([v for vs in ttfts.values() for v in vs])
    models = sorted(per_model.values(), key=lambda m: (-(m.cost_usd or 0.0), -m.total_tokens, m.model))
    return Stats(by=by, since_ns=params["since"], until_ns=params["until"], buckets=ordered, total=total, models=models)


def _p50_p95(values: list[float]) -> tuple[float | None, float | None]:
    return percentile(values, 0.5), percentile(values, 0.95)
