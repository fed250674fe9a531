"""Rollup rows computed from their inputs (no database): a trace's from its spans, a session's from its traces.

Definitions (as the read API documents them):

* a trace's *root* is its span with no parent in the store (the earliest, if
  several); its *session* is the session id on a root, else on any span;
* a trace is *interrupted* when its root's outcome is ``interrupted`` (or, for
  a root threadline did not build, when any span was interrupted); it is an
  *error* when a span has error status and it is not interrupted;
* tokens and cost are sums over the spans that carry them (``None`` when no
  span does, never a made-up 0); models and time to first token come from each
  call's own span, not from a framework wrapper whose usage is counted in a
  nested SDK span.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import groupby
from operator import is_, is_not
from typing import Any

from threadline import semconv as sc
from threadline.store.json_text import compact_json
from threadline.store.json_text import loads as _loads
from threadline.store.tables import TOKEN_FIELDS

__all__ = [
    "SESSION_COLUMNS",
    "SESSION_INPUT",
    "TRACE_COLUMNS",
    "TRACE_INPUT",
    "USAGE_FIELDS",
    "dumps",
    "loads",
    "session_row",
    "trace_row",
]

# Usage kinds, in the order of a model_usage entry and of the rollup tables' usage columns.
USAGE_FIELDS: tuple[str, ...] = (*TOKEN_FIELDS, "cost_usd", "cost_input_usd", "cost_output_usd")

# The span columns a trace rollup is computed from (promoted columns only: never the attribute JSON).
TRACE_INPUT: tuple[str, ...] = (
    "span_id",
    "parent_span_id",
    "name",
    "start_ns",
    "end_ns",
    "status_code",
    "outcome",
    "session_id",
    "user_id",
    "model",
    *USAGE_FIELDS,
    "usage_counted_in",
    "ttft_ms",
    "is_resume",
    "interrupt_ids",
    "resume_interrupt_ids",
    "environment",
    "session_original_id",
    "session_meta",
    "checkpoint_id",
)
(_SPAN, _PARENT, _NAME, _START, _END, _STATUS, _OUTCOME, _SESSION, _USER, _MODEL, _IN, _OUT, _CREAD, _CWRITE,
 _REASON, _TOTAL, _COST, _COST_IN, _COST_OUT, _COUNTED_IN, _TTFT, _RESUME, _INTERRUPTS, _RESUME_IDS, _ENV,
 _ORIGINAL, _SESSION_META, _CHECKPOINT) = range(len(TRACE_INPUT))  # fmt: skip

# The span column each usage kind of a model_usage entry sums (USAGE_FIELDS, in order).
_USAGE = (_IN, _OUT, _CREAD, _CWRITE, _REASON, _TOTAL, _COST, _COST_IN, _COST_OUT)

# What a trace rollup carries up to its session: users, models, usage, TTFTs, environment, tags ...
_SUMMARY = (
    "users",
    "models",
    *USAGE_FIELDS,
    "ttfts",
    "model_usage",
    "environment",
    "tags",
    "metadata",
    "original_id",
)
TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "session_id",
    "root_span_id",
    "root_name",
    "root_outcome",
    "start_ns",
    "end_ns",
    "spans",
    "error_spans",
    "interrupted",
    "outcome",
    "is_resume",
    *_SUMMARY,
    "interrupt_ids",
    "resume_interrupt_ids",
    "checkpoint_ids",
)
SESSION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "first_start_ns",
    "last_end_ns",
    "active_ns",
    "traces",
    "errors",
    "interrupted",
    "users",
    "models",
    *USAGE_FIELDS,
    "ttft_median_ms",
    "environment",
    "tags",
    "metadata",
    "original_id",
    "ttfts",
)


# The trace columns a session rollup is computed from, in this order (see session_row).
SESSION_INPUT = ("start_ns", "end_ns", "error_spans", "interrupted", *_SUMMARY)


_encode = compact_json(allow_nan=True)


def dumps(value: Any) -> str | None:
    """Compact JSON of ``value``; ``None`` for an empty or missing one."""
    if not value:
        return None
    return _encode(value)


def loads(text: str | None) -> Any:
    """The value of stored JSON; ``None`` for none."""
    return _loads(text) if text else None


is_none = partial(is_, None)
_is_present = partial(is_not, None)


def _sum(rows: Sequence[Sequence[Any]], index: int) -> Any:
    values = [r[index] for r in rows if r[index] is not None]
    return sum(values) if values else None


def _column_sum(column: Sequence[Any]) -> Any:
    """The sum of the values present in ``column``; ``None`` when none is (zeros are left out: they add nothing)."""
    return None if column.count(None) == len(column) else sum(filter(None, column))


def _first(column: Iterable[Any]) -> Any:
    return next(filter(_is_present, column), None)


def _ids(text: str | None) -> list[str]:
    value = loads(text)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _unique_ids(texts: Sequence[str | None]) -> str | None:
    """The ids of JSON id lists (first occurrence first), as JSON."""
    if texts.count(None) == len(texts):  # most traces: no interrupt
        return None
    return dumps(list(dict.fromkeys(i for text in texts if text is not None for i in _ids(text))))


def _outcome(root_outcome: str | None, interrupted: bool, error_spans: int, is_resume: bool) -> str:
    if interrupted:
        return sc.OUTCOME_INTERRUPTED
    if error_spans:
        return sc.OUTCOME_ERROR
    if root_outcome == sc.OUTCOME_CANCELLED:
        return sc.OUTCOME_CANCELLED
    return "resumed" if is_resume else sc.OUTCOME_OK


def _model_usage(calls: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """Calls and usage per model (in the order of the calls)."""
    model_usage: dict[str, list[Any]] = {}
    for s in calls:
        if s[_MODEL] is None or all(map(is_none, map(s.__getitem__, _USAGE))):
            continue
        entry = model_usage.setdefault(s[_MODEL], [0] + [None] * len(_USAGE))
        entry[0] += 1
        for k, i in enumerate(_USAGE, start=1):
            if s[i] is not None:
                entry[k] = s[i] if entry[k] is None else entry[k] + s[i]
    return model_usage


def _tags_and_metadata(texts: Sequence[str | None]) -> tuple[set[str], dict[str, Any]]:
    """Tags (all) and metadata (later spans win) of the spans' session meta, in span order."""
    tags: set[str] = set()
    metadata: dict[str, Any] = {}
    for text, _ in groupby(texts):  # the spans of a session scope repeat one text: parse it once
        meta = loads(text)
        if meta:
            tags.update(str(t) for t in meta[0] or ())
            metadata.update(meta[1] or {})
    return tags, metadata


_ORDER = operator.itemgetter(_START, _SPAN)


def trace_row(trace_id: str, spans: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """The ``traces`` row of one trace from its spans' :data:`TRACE_INPUT` columns (in any order)."""
    spans = sorted(spans, key=_ORDER)
    columns = list(zip(*spans, strict=True))
    ids = set(columns[_SPAN])
    roots = [s for s in spans if s[_PARENT] is None or s[_PARENT] not in ids]
    root = roots[0] if roots else None
    root_sessions = [s[_SESSION] for s in roots if s[_SESSION] is not None]
    session = max(root_sessions) if root_sessions else max(_present(columns[_SESSION]), default=None)
    root_outcome = root[_OUTCOME] if root is not None else None
    interrupted = root_outcome == sc.OUTCOME_INTERRUPTED or (
        root_outcome is None and sc.OUTCOME_INTERRUPTED in columns[_OUTCOME]
    )
    error_spans = columns[_STATUS].count("ERROR")
    is_resume = any(columns[_RESUME])
    calls = [s for s in spans if s[_COUNTED_IN] is None]
    metas = columns[_SESSION_META]
    tags, metadata = _tags_and_metadata(metas) if metas.count(None) != len(metas) else ((), None)
    return (
        trace_id,
        session,
        root[_SPAN] if root is not None else None,
        root[_NAME] if root is not None else None,
        root_outcome,
        min(columns[_START]),
        max(_present(columns[_END]), default=None),
        len(spans),
        error_spans,
        int(interrupted),
        _outcome(root_outcome, interrupted, error_spans, is_resume),
        int(is_resume),
        dumps(sorted(_present(set(columns[_USER])))),
        dumps(sorted(_present({s[_MODEL] for s in calls}))),
        *map(_column_sum, map(columns.__getitem__, _USAGE)),
        dumps(sorted(_present([s[_TTFT] for s in calls]))),
        dumps(_model_usage(calls)),
        root[_ENV] if root is not None and root[_ENV] is not None else _first(columns[_ENV]),
        dumps(sorted(tags)),
        dumps(metadata),
        _first(columns[_ORIGINAL]),
        _unique_ids(columns[_INTERRUPTS]),
        _unique_ids(columns[_RESUME_IDS]),
        dumps(list(dict.fromkeys(_present(columns[_CHECKPOINT])))),
    )


def _present(values: Iterable[Any]) -> list[Any]:
    """``values`` without ``None``."""
    return list(filter(_is_present, values))  # in C: no Python frame per value


def session_row(session_id: str, traces: Sequence[Sequence[Any]]) -> tuple[tuple[Any, ...], dict[str, list[Any]]]:
    """The ``sessions`` row of one session and its usage per model, from its traces (by start time)."""
    start, end, errors, interrupted, users, models = range(6)
    usage = range(6, 6 + len(USAGE_FIELDS))
    ttfts, model_usage, env, tags, metadata, original = range(6 + len(USAGE_FIELDS), 12 + len(USAGE_FIELDS))
    first = min(t[start] for t in traces)
    last = max((t[end] for t in traces if t[end] is not None), default=None)
    all_ttfts = sorted(v for t in traces for v in loads(t[ttfts]) or ())
    per_model: dict[str, list[Any]] = {}
    for t in traces:
        for model, entry in (loads(t[model_usage]) or {}).items():
            mine = per_model.setdefault(model, [0] + [None] * len(USAGE_FIELDS))
            for k, value in enumerate(entry):
                if value is not None:
                    mine[k] = value if mine[k] is None else mine[k] + value
    latest_env = [t[env] for t in traces if t[env] is not None]
    latest_meta = [t[metadata] for t in traces if t[metadata] is not None]
    originals = [t[original] for t in traces if t[original] is not None]
    row = (
        session_id,
        first,
        last,
        last if last is not None else first,
        len(traces),
        sum(1 for t in traces if t[errors] and not t[interrupted]),
        sum(t[interrupted] for t in traces),
        dumps(sorted({u for t in traces for u in loads(t[users]) or ()})),
        dumps(sorted({m for t in traces for m in loads(t[models]) or ()})),
        *(_sum(traces, i) for i in usage),
        statistics.median(all_ttfts) if all_ttfts else None,
        latest_env[-1] if latest_env else None,
        dumps(sorted({g for t in traces for g in loads(t[tags]) or ()})),
        latest_meta[-1] if latest_meta else None,
        originals[0] if originals else None,
        dumps(all_ttfts),
    )
    return row, per_model
