"""``python -m benchmarks.instructions``: overhead as CPU instructions per call, which noise does not move.

Wall-clock ratios on a shared 2-core machine swing by ±30 % between runs (a
neighbour's job, frequency changes), more than most changes to threadline
make. The number of instructions retired does not: the same code runs the
same instructions whatever else the machine does. Each workload and variant
runs in a child process under ``perf stat -e instructions``, once with
``N`` timed calls after the warm-up and once with the warm-up only; the
difference divided by ``N`` is the cost of one call (the exporter's
background thread included). The median of ``--repeats`` pairs is reported,
as a ratio to the uninstrumented run.

Instructions are not time: cache misses and garbage collection of a large
heap cost time for few instructions (see ``gc`` in the table: collections per
1,000 calls). Use this to compare versions of threadline on one machine; the
wall-clock harness (``python -m benchmarks``) stays the judge of the targets.

Needs Linux ``perf`` (Debian: ``linux-perf``); without it the run says so and
exits 2. ``--child`` runs one measurement without perf (used by the tests).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
WARM_UP = 50

# workload -> (calls per measurement, variants)
PLAN: dict[str, tuple[int, tuple[str, ...]]] = {
    "langgraph": (1000, ("off", "default", "nocontent", "memory", "bare")),
    "hitl": (400, ("off", "default", "memory")),
    "openai": (1000, ("off", "default", "nocontent", "memory", "bare")),
    "openai-stream": (1000, ("off", "default", "memory", "bare")),
    "llamaindex": (600, ("off", "default", "memory")),
}
LABELS = {
    "off": "uninstrumented",
    "default": "threadline (default: SQLite store)",
    "nocontent": "threadline (SQLite store, capture_content=False)",
    "memory": "threadline (in-memory exporter)",
    "bare": "bare span per run (for scale)",
}


# -- the child: one workload, one variant --------------------------------------------------
def _workload(name: str) -> tuple[Callable[[int], Any], Callable[[list[Any] | None], Callable[[int], Any]] | None]:
    """The workload's call, and for LangChain workloads a builder that passes callbacks."""
    from benchmarks import apps

    if name == "langgraph":
        graph = apps.turn_graph()

        def call_with(callbacks: list[Any] | None) -> Callable[[int], Any]:
            return lambda i: graph.invoke({"question": f"question {i}?"}, apps.turn_config(i, callbacks))

        return call_with(None), call_with
    if name == "hitl":
        return apps.hitl_cycle(*apps.hitl_graph()), None
    if name in ("openai", "openai-stream"):
        client = apps.openai_client()
        if name == "openai":
            return lambda i: client.chat.completions.create(model=apps.MODEL, messages=apps.MESSAGES), None

        def streamed(i: int) -> Any:
            stream = client.chat.completions.create(
                model=apps.MODEL, messages=apps.MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            return [chunk for chunk in stream]

        return streamed, None
    if name == "llamaindex":
        engine = apps.llamaindex_engine()
        return lambda i: engine.query(f"what is fact {i % 12}?"), None
    raise SystemExit(f"unknown workload {name!r}; one of {', '.join(PLAN)}")


def _setup(workload: str, variant: str, call: Callable[[int], Any], call_with: Any) -> tuple[Any, Callable[[], Any]]:
    """Instrument for ``variant``; returns the call to time and the flush to end with."""
    import threadline

    if variant == "off":
        return call, lambda: None
    if variant in ("default", "nocontent"):
        os.environ["THREADLINE_DB"] = str(Path(tempfile.mkdtemp(prefix="tl-instr-")) / "traces.db")
        threadline.instrument(**({"capture_content": False} if variant == "nocontent" else {}))
        return call, threadline.flush
    if variant == "memory":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        threadline.instrument(exporter=InMemorySpanExporter())
        return call, threadline.flush
    if variant == "bare":
        from benchmarks import peers

        if call_with is not None:
            bare = peers.bare_handler(call_with)
            return bare.call, bare.finish
        bare = peers.bare_openai_wrapper()
        bare.setup()
        return call, bare.finish
    raise SystemExit(f"unknown variant {variant!r}; one of {', '.join(LABELS)}")


def child(workload: str, variant: str, calls: int) -> dict[str, float]:
    """Warm up, then (if ``calls``) run ``calls`` calls and flush; the GC's work during them."""
    call, call_with = _workload(workload)
    call, finish = _setup(workload, variant, call, call_with)
    for i in range(WARM_UP):
        call(i)
    finish()
    gc.collect()
    before = [s["collections"] for s in gc.get_stats()]
    started = time.process_time()
    for i in range(calls):
        call(i)
    finish()
    cpu = time.process_time() - started
    after = [s["collections"] for s in gc.get_stats()]
    return {"cpu_us": cpu / calls * 1e6 if calls else 0.0, "gc": sum(after) - sum(before)}


# -- the parent: perf stat around children -------------------------------------------------
def _instructions(workload: str, variant: str, calls: int) -> tuple[int, dict[str, float]]:
    cmd = [
        "perf",
        "stat",
        "-x,",
        "-e",
        "instructions",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        workload,
        variant,
        str(calls),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{workload}/{variant} failed:\n{proc.stderr[-2000:]}")
    count = None
    extra: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            count = int(fields[0])
        elif line.startswith("child:"):
            extra = {k: float(v) for k, v in (kv.split("=") for kv in line[6:].split())}
    if count is None:
        raise RuntimeError(f"perf gave no instruction count for {workload}/{variant}:\n{proc.stderr[-2000:]}")
    return count, extra


def measure(workload: str, variant: str, calls: int, repeats: int) -> dict[str, float]:
    """Median instructions per call over ``repeats`` (timed run minus warm-up-only run) pairs."""
    per_call: list[float] = []
    gcs: list[float] = []
    for _ in range(repeats):
        warm, _ = _instructions(workload, variant, 0)
        full, extra = _instructions(workload, variant, calls)
        per_call.append((full - warm) / calls)
        gcs.append(extra.get("gc", 0.0) / calls * 1000)
    return {"instructions": statistics.median(per_call), "gc_per_1000": statistics.median(gcs)}


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """The markdown table of a run."""
    lines = [
        "| workload | variant | instructions / call | ratio | overhead instructions / call | GC runs / 1,000 calls |",
        "|---|---|---|---|---|---|",
    ]
    for workload, variants in results.items():
        base = variants["off"]["instructions"]
        for variant, m in variants.items():
            ratio = m["instructions"] / base
            over = "–" if variant == "off" else f"{m['instructions'] - base:,.0f}"
            lines.append(
                f"| {workload} | {LABELS[variant]} | {m['instructions']:,.0f} | {ratio:.2f} | {over} "
                f"| {m['gc_per_1000']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    p.add_argument("-w", "--workloads", nargs="+", choices=list(PLAN), default=list(PLAN))
    p.add_argument("--repeats", type=int, default=3, help="measurement pairs per variant (median; default 3)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the calls per measurement")
    p.add_argument("--out", type=Path, default=RESULTS / "instructions.md")
    p.add_argument("--child", nargs=3, metavar=("WORKLOAD", "VARIANT", "CALLS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        workload, variant, calls = args.child
        out = child(workload, variant, int(calls))
        print("child: " + " ".join(f"{k}={v}" for k, v in out.items()), file=sys.stderr)
        return 0
    if (
        shutil.which("perf") is None
        or subprocess.run(["perf", "stat", "-e", "instructions", "true"], capture_output=True).returncode != 0
    ):
        print("perf is not available here (Debian: apt-get install linux-perf); nothing measured", file=sys.stderr)
        return 2

    results: dict[str, dict[str, dict[str, float]]] = {}
    for workload in args.workloads:
        calls, variants = PLAN[workload]
        calls = max(1, int(calls * args.scale))
        results[workload] = {}
        for variant in variants:
            results[workload][variant] = measure(workload, variant, calls, args.repeats)
            print(f"{workload} / {variant}: {results[workload][variant]['instructions']:,.0f}", file=sys.stderr)
    md = "# threadline benchmarks — instructions per call\n\n" + table(results) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
