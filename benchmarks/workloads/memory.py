"""Memory over a long run: LangGraph turns for a time budget with the default SQLite store.

Runs in a child process (so other workloads' imports and caches do not
dilute the numbers): tracemalloc starts before the graph is built and
threadline is instrumented; after a warm-up (a fraction of the budget) and at
the end, the exporter is flushed, garbage collected, and RSS and traced memory
are read. Growth is ``(end - warm) / warm``. Open span handles left in memory
at the end are counted (there should be none: run maps are cleaned on end).

Target: growth after warm-up < 5 %; no per-run leftovers.
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


class _Counter:
    """A span processor counting ended spans (to tell exported from dropped)."""

    def __init__(self) -> None:
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: Any) -> None:
        self.ended += 1

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _open_handles() -> dict[str, int]:
    from threadline.emitter import SpanHandle, TraceState

    counts = {"SpanHandle": 0, "TraceState": 0}
    for obj in gc.get_objects():
        if type(obj) is SpanHandle:
            counts["SpanHandle"] += 1
        elif type(obj) is TraceState:
            counts["TraceState"] += 1
    return counts


def measure(seconds: float, warmup_fraction: float, workdir: str) -> dict[str, Any]:
    """The child process's work: returns the metrics."""
    import threadline
    from benchmarks import apps
    from benchmarks.workloads.langgraph_turn import turn_call
    from threadline import _runtime

    tracemalloc.start(1)
    db = use_store(workdir, "memory")
    threadline.instrument()
    counter = _Counter()
    _runtime.state.provider.add_span_processor(counter)
    call = turn_call(apps.turn_graph())(None)

    def settle() -> tuple[int, int]:
        threadline.flush()
        gc.collect()
        return rss_bytes(), tracemalloc.get_traced_memory()[0]

    t_start = time.perf_counter()
    warm_until = t_start + seconds * warmup_fraction
    end_at = t_start + seconds
    turns = 0
    while time.perf_counter() < warm_until or turns < 20:
        call(turns)
        turns += 1
    warm_turns = turns
    rss_warm, traced_warm = settle()
    snap_warm = tracemalloc.take_snapshot()
    t_warm = time.perf_counter()
    while time.perf_counter() < end_at or turns < warm_turns + 20:
        call(turns)
        turns += 1
    run_seconds = time.perf_counter() - t_warm
    rss_end, traced_end = settle()
    snap_end = tracemalloc.take_snapshot()
    _, traced_peak = tracemalloc.get_traced_memory()
    handles = _open_handles()
    stored = stored_spans(db)
    threadline.shutdown()

    growth = [
        f"{stat.traceback[0].filename.rsplit('site-packages/', 1)[-1]}:{stat.traceback[0].lineno} "
        f"{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks)"
        for stat in snap_end.compare_to(snap_warm, "lineno")[:8]
    ]
    mb = 1024 * 1024
    return {
        "turns": turns,
        "warmup_turns": warm_turns,
        "seconds": round(time.perf_counter() - t_start, 1),
        "turns_per_s_after_warmup": round((turns - warm_turns) / run_seconds, 1),
        "rss_warm_mb": round(rss_warm / mb, 1),
        "rss_end_mb": round(rss_end / mb, 1),
        "rss_growth_pct": round((rss_end - rss_warm) / rss_warm * 100, 2),
        "traced_warm_mb": round(traced_warm / mb, 2),
        "traced_end_mb": round(traced_end / mb, 2),
        "traced_peak_mb": round(traced_peak / mb, 2),
        "traced_growth_pct": round((traced_end - traced_warm) / traced_warm * 100, 2),
        "traced_growth_bytes_per_turn": round((traced_end - traced_warm) / max(turns - warm_turns, 1), 1),
        "leftover_handles": handles["SpanHandle"],
        "leftover_trace_states": handles["TraceState"],
        "spans_ended": counter.ended,
        "spans_stored": stored,
        "dropped_spans": (counter.ended - stored) if stored is not None else None,
        "top_growth_sites": growth,
    }


def run(cfg: Config) -> list[Row]:
    """Run :func:`measure` in a child process with this interpreter; one report row."""
    why = importable("langgraph", "threadline_langgraph")
    if why is not None:
        raise SkipError(why)
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
    cfg.log(f"  memory: {cfg.memory_seconds:g} s of LangGraph turns in a child process")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=cfg.memory_seconds * 3 + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr.strip()[-2000:]}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = max(m["rss_growth_pct"], m["traced_growth_pct"])
    met = growth < TARGET_PCT and m["leftover_handles"] == 0
    note = f"{m['turns_per_s_after_warmup']:,.0f} turns/s after warm-up; tracemalloc on for the whole run"
    return [
        Row(
            "memory (langgraph turns, SQLite store)",
            "threadline (default)",
            "memory",
            m,
            f"growth < {TARGET_PCT:g} %, no open handles",
            met,
            note,
        )
    ]


def _main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--warmup-fraction", type=float, default=0.15)
    p.add_argument("--workdir", required=True)
    a = p.parse_args()
    import logging

    logging.getLogger("threadline").setLevel(logging.ERROR)
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    print(json.dumps(measure(a.seconds, a.warmup_fraction, a.workdir)))


if __name__ == "__main__":
    _main()
