"""Memory over a long run: LangGraph turns for a time budget with the default SQLite store.

Runs in a child process (so other workloads' imports and caches do not
dilute the numbers): threadline is instrumented with the default exporter
and five turns load the lazy imports and caches. After a warm-up (15 % of the
budget) and at 85 % of it, the exporter is flushed, garbage collected and RSS
read: RSS growth is ``(end - warm) / warm``. The last 15 % runs under
tracemalloc (which slows every allocation several-fold, so it traces only that
stretch): what is allocated there and still alive at the end, per turn, with
the top allocation sites. Open span handles left in memory at the end are
counted (there should be none: run maps are cleaned on end, error and
abandonment).

Target: RSS growth after warm-up < 5 %; no per-run leftovers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.harness import Config, Row, SkipError
from benchmarks.pipelines import importable, stored_spans, use_store

TARGET_PCT = 5.0


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux) or the peak from getrusage elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _counter() -> Any:
    """A span processor counting ended spans (to tell exported from dropped)."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Counter(SpanProcessor):
        def __init__(self) -> None:
            self.ended = 0

        def on_end(self, span: Any) -> None:
            self.ended += 1

    return Counter()


def _open_handles() -> dict[str, int]:
    from threadline.emitter import SpanHandle, TraceState

    counts = {"SpanHandle": 0, "TraceState": 0}
    for obj in gc.get_objects():
        if type(obj) is SpanHandle:
            counts["SpanHandle"] += 1
        elif type(obj) is TraceState:
            counts["TraceState"] += 1
    return counts


def measure(seconds: float, warmup_fraction: float, workdir: str, instrumented: bool = True) -> dict[str, Any]:
    """The child process's work: returns the metrics (``instrumented=False``: LangGraph alone, for reference)."""
    import threadline
    from benchmarks import apps
    from benchmarks.workloads.langgraph_turn import turn_call
    from threadline import _runtime

    db = use_store(workdir, "memory" if instrumented else "memory-baseline")
    counter = _counter()
    if instrumented:
        threadline.instrument()
        _runtime.state.provider.add_span_processor(counter)
    call = turn_call(apps.turn_graph())(None)
    # Lazy imports and first-use caches (the pricing table is a 20k-line module) load
    # before tracing allocations: they are a one-off, and importing under tracemalloc
    # takes minutes.
    for i in range(5):
        call(-1 - i)

    def settle() -> None:
        threadline.flush()
        gc.collect()

    t_start = time.perf_counter()
    warm_until = t_start + seconds * warmup_fraction
    traced_from = t_start + seconds * 0.85
    end_at = t_start + seconds
    turns = 0
    while time.perf_counter() < warm_until or turns < 20:
        call(turns)
        turns += 1
    warm_turns = turns
    settle()
    rss_warm = rss_bytes()
    t_warm = time.perf_counter()
    while time.perf_counter() < traced_from or turns < warm_turns + 20:
        call(turns)
        turns += 1
    rss_turns = turns - warm_turns
    run_seconds = time.perf_counter() - t_warm
    settle()
    rss_end = rss_bytes()

    # A last stretch under tracemalloc (it slows every allocation several-fold, so
    # only this part is traced): what is allocated there and still alive at the end.
    tracemalloc.start(1)
    settle()
    traced_start = tracemalloc.get_traced_memory()[0]
    snap_start = tracemalloc.take_snapshot()
    traced_first = turns
    while time.perf_counter() < end_at or turns < traced_first + 20:
        call(turns)
        turns += 1
    traced_turns = turns - traced_first
    settle()
    traced_end = tracemalloc.get_traced_memory()[0]
    snap_end = tracemalloc.take_snapshot()
    tracemalloc.stop()
    handles = _open_handles()
    stored = stored_spans(db) if instrumented else None
    threadline.shutdown()

    growth = [
        f"{stat.traceback[0].filename.rsplit('site-packages/', 1)[-1]}:{stat.traceback[0].lineno} "
        f"{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks)"
        for stat in snap_end.compare_to(snap_start, "lineno")[:8]
    ]
    mb = 1024 * 1024
    return {
        "turns": turns,
        "warmup_turns": warm_turns,
        "rss_window_turns": rss_turns,
        "traced_turns": traced_turns,
        "seconds": round(time.perf_counter() - t_start, 1),
        "turns_per_s_after_warmup": round(rss_turns / run_seconds, 1),
        "rss_warm_mb": round(rss_warm / mb, 1),
        "rss_end_mb": round(rss_end / mb, 1),
        "rss_growth_pct": round((rss_end - rss_warm) / rss_warm * 100, 2),
        "traced_growth_kb": round((traced_end - traced_start) / 1024, 1),
        "traced_growth_bytes_per_turn": round((traced_end - traced_start) / max(traced_turns, 1), 1),
        "leftover_handles": handles["SpanHandle"],
        "leftover_trace_states": handles["TraceState"],
        "spans_ended": counter.ended,
        "spans_stored": stored,
        "dropped_spans": (counter.ended - stored) if stored is not None else None,
        "instrumented": instrumented,
        "top_growth_sites": growth,
    }


def _child(cfg: Config, instrumented: bool) -> dict[str, Any]:
    if cfg.mode == "quick":
        # Only checking the harness runs: skip the child's start-up (imports take seconds).
        return measure(cfg.memory_seconds, cfg.memory_warmup_fraction, cfg.workdir, instrumented)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.workloads.memory",
        "--seconds",
        str(cfg.memory_seconds),
        "--warmup-fraction",
        str(cfg.memory_warmup_fraction),
        "--workdir",
        cfg.workdir,
    ]
    if not instrumented:
        cmd.append("--uninstrumented")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=cfg.memory_seconds * 3 + 180)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(cfg: Config) -> list[Row]:
    """Two child processes with this interpreter, threadline and LangGraph alone; a row each."""
    why = importable("langgraph", "threadline_langgraph")
    if why is not None:
        raise SkipError(why)
    label = "memory (langgraph turns, SQLite store)"
    cfg.log(f"  memory: {cfg.memory_seconds:g} s of LangGraph turns in a child process, instrumented then not")
    m = _child(cfg, instrumented=True)
    met = (m["rss_growth_pct"] < TARGET_PCT and m["leftover_handles"] == 0) if cfg.mode != "quick" else None
    note = f"{m['turns_per_s_after_warmup']:,.0f} turns/s after warm-up"
    if m.get("dropped_spans") and m.get("spans_ended"):
        note += (
            f"; {m['dropped_spans'] / m['spans_ended'] * 100:.0f} % of spans DROPPED: the exporter did not keep up"
            " (see README)"
        )
    rows = [
        Row(label, "threadline (default)", "memory", m, f"RSS growth < {TARGET_PCT:g} %, no open handles", met, note)
    ]
    if not cfg.memory_reference:
        return rows
    b = _child(cfg, instrumented=False)
    rows.append(
        Row(label, "uninstrumented (reference)", "memory", b, note=f"{b['turns_per_s_after_warmup']:,.0f} turns/s")
    )
    return rows


def _main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--warmup-fraction", type=float, default=0.15)
    p.add_argument("--workdir", required=True)
    p.add_argument("--uninstrumented", action="store_true")
    a = p.parse_args()
    import logging

    logging.getLogger("threadline").setLevel(logging.ERROR)
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    print(json.dumps(measure(a.seconds, a.warmup_fraction, a.workdir, instrumented=not a.uninstrumented)))


if __name__ == "__main__":
    _main()
