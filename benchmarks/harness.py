"""Timing primitives: interleaved rounds of variants of one workload, and result rows.

A *variant* is one way of running the same call (uninstrumented, threadline,
a peer tracer). :func:`compare` runs every variant in each round, in a
rotated order, each in its own timed block of the same number of calls, so
that machine noise (frequency scaling, a neighbour process) hits all variants
alike. A round's ratio is ``variant / baseline`` of *that* round; the report
gives the median over rounds, and the per-call overhead in microseconds.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Call = Callable[[int], Any]


def _noop() -> None:
    return None


class SkipError(Exception):
    """Raised by a workload or variant that cannot run here; the message says why."""


@dataclass
class Config:
    """How long and how often to measure."""

    mode: str = "full"  # "quick" runs judge no target: the counts are too small to mean anything
    rounds: int = 9
    block_seconds: float = 0.4
    warmup_calls: int = 20
    min_calls: int = 20
    max_calls: int = 20_000
    memory_seconds: float = 120.0
    memory_warmup_fraction: float = 0.15
    export_batches: int = 200
    export_batch_size: int = 512
    profile: bool = False
    collect_garbage: bool = True
    memory_reference: bool = True
    workdir: str = ""
    out_dir: str = ""
    log: Callable[[str], None] = print

    @classmethod
    def quick(cls) -> Config:
        """Tiny counts: checks the harness runs, not how fast anything is."""
        return cls(
            mode="quick",
            rounds=2,
            block_seconds=0.01,
            warmup_calls=1,
            min_calls=2,
            max_calls=5,
            memory_seconds=1.0,
            memory_warmup_fraction=0.3,
            export_batches=3,
            export_batch_size=64,
            collect_garbage=False,
            memory_reference=False,
        )

    @classmethod
    def full(cls) -> Config:
        """The published numbers: 9 interleaved rounds of ~0.4 s blocks, 2 minutes of memory run."""
        return cls()


@dataclass
class Variant:
    """One way of running a workload's call.

    ``setup`` runs before each timed block and ``teardown`` after it, both
    untimed; ``finish`` runs inside the timed block after the last call (e.g.
    a flush, so export work done for the block is paid by the block).
    ``call`` replaces the workload's call (e.g. to pass a peer's callback
    handler in the config).
    """

    name: str
    setup: Callable[[], Any] = _noop
    teardown: Callable[[], Any] = _noop
    finish: Callable[[], Any] = _noop
    call: Call | None = None
    note: str = ""
    target_ratio: float | None = None
    target_overhead_us: float | None = None
    count_spans: Callable[[], int | None] | None = None


@dataclass
class Row:
    """One line of the report."""

    workload: str
    variant: str
    kind: str  # overhead | throughput | memory
    metrics: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _block(call: Call, n: int, start: int, finish: Callable[[], Any], collect: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of ``n`` calls plus ``finish``, after a full collection."""
    if collect:
        gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i in range(start, start + n):
        call(i)
    finish()
    t1 = time.perf_counter()
    c1 = time.process_time()
    return t1 - t0, c1 - c0


def calibrate(call: Call, cfg: Config, start: int = 0) -> tuple[int, float]:
    """Calls per block so a baseline block lasts ``cfg.block_seconds``; and the per-call estimate."""
    n, spent = 0, 0.0
    budget = max(cfg.block_seconds / 4, 0.005)
    while spent < budget and n < cfg.max_calls:
        t0 = time.perf_counter()
        call(start + n)
        spent += time.perf_counter() - t0
        n += 1
    per_call = spent / max(n, 1)
    calls = int(cfg.block_seconds / per_call) if per_call > 0 else cfg.max_calls
    return max(cfg.min_calls, min(cfg.max_calls, calls)), per_call


def compare(
    workload: str,
    call: Call,
    variants: Sequence[Variant],
    cfg: Config,
    *,
    baseline_name: str = "uninstrumented",
    calls: int | None = None,
    unit: str = "call",
) -> list[Row]:
    """Time ``variants`` against the uninstrumented ``call`` in interleaved rounds.

    Each variant's setup raising :class:`SkipError` drops that variant with a note.
    """
    baseline = Variant(baseline_name)
    everyone = [baseline, *variants]
    counter = [0]

    def next_start(n: int) -> int:
        s = counter[0]
        counter[0] += n + cfg.warmup_calls
        return s

    # One untimed pass of each variant: imports, caches, first-use costs.
    usable: list[Variant] = []
    skipped: list[Row] = []
    for v in everyone:
        fn = v.call or call
        try:
            v.setup()
        except SkipError as exc:
            skipped.append(Row(workload, v.name, "overhead", note=f"skipped: {exc}"))
            continue
        try:
            for i in range(next_start(max(cfg.warmup_calls, 2)), counter[0]):
                fn(i)
            v.finish()
        finally:
            v.teardown()
        usable.append(v)

    n = calls
    if n is None:
        n, _ = calibrate(call, cfg, start=next_start(0))
        counter[0] += cfg.max_calls
    cfg.log(f"  {workload}: {len(usable)} variants x {cfg.rounds} rounds x {n} {unit}s")

    wall: dict[str, list[float]] = {v.name: [] for v in usable}
    cpu: dict[str, list[float]] = {v.name: [] for v in usable}
    extra: dict[str, list[float]] = {v.name: [] for v in usable}
    for r in range(cfg.rounds):
        order = usable[r % len(usable) :] + usable[: r % len(usable)]
        for v in order:
            fn = v.call or call
            v.setup()
            try:
                start = next_start(n)
                for i in range(start, start + cfg.warmup_calls):
                    fn(i)
                v.finish()
                before = v.count_spans() if v.count_spans is not None else None
                w, c = _block(fn, n, start + cfg.warmup_calls, v.finish, cfg.collect_garbage)
                after = v.count_spans() if v.count_spans is not None else None
                if before is not None and after is not None:
                    extra[v.name].append((after - before) / n)
            finally:
                v.teardown()
            wall[v.name].append(w / n)
            cpu[v.name].append(c / n)

    base_w, base_c = wall[baseline.name], cpu[baseline.name]
    rows: list[Row] = []
    for v in usable:
        ws, cs = wall[v.name], cpu[v.name]
        ratios = [w / b for w, b in zip(ws, base_w, strict=True)]
        overheads = [(w - b) * 1e6 for w, b in zip(ws, base_w, strict=True)]
        cpu_overheads = [(c - b) * 1e6 for c, b in zip(cs, base_c, strict=True)]
        cpu_ratios = [c / b for c, b in zip(cs, base_c, strict=True) if b > 0]
        metrics: dict[str, Any] = {
            "per_call_us": round(statistics.median(ws) * 1e6, 2),
            "baseline_per_call_us": round(statistics.median(base_w) * 1e6, 2),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3),
            "overhead_us": round(statistics.median(overheads), 2),
            "cpu_per_call_us": round(statistics.median(cs) * 1e6, 2),
            "cpu_ratio": round(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
            "cpu_overhead_us": round(statistics.median(cpu_overheads), 2),
            "rounds": cfg.rounds,
            "calls_per_round": n,
            "unit": unit,
        }
        if extra[v.name]:
            metrics["spans_per_call"] = round(statistics.median(extra[v.name]), 2)
        target, met = "", None
        if v is not baseline and cfg.mode != "quick":
            if v.target_ratio is not None:
                target, met = f"ratio <= {v.target_ratio}", metrics["ratio"] <= v.target_ratio
            elif v.target_overhead_us is not None:
                target = f"<= {v.target_overhead_us:g} us/{unit}"
                met = metrics["overhead_us"] <= v.target_overhead_us
        rows.append(Row(workload, v.name, "overhead", metrics, target, met, v.note))
    return rows + skipped


def profile(cfg: Config, label: str, call: Call, variant: Variant, calls: int = 1500) -> Path | None:
    """Profile ``calls`` instrumented calls (after a warm-up) into ``profile-<label>.txt``; only with ``--profile``.

    pyinstrument's call tree when it is installed (statistical, so the tree's
    proportions are not distorted much), then cProfile's top functions by own
    time. Both include the variant's finish (the exporter flush).
    """
    if not cfg.profile or not cfg.out_dir:
        return None
    fn = variant.call or call
    parts: list[str] = [f"# {label}: {variant.name}, {calls} calls\n"]

    def measured(start: int) -> None:
        for i in range(start, start + calls):
            fn(i)
        variant.finish()

    variant.setup()
    try:
        for i in range(cfg.warmup_calls):
            fn(10_000_000 + i)
        variant.finish()
        try:
            from pyinstrument import Profiler
        except ImportError:
            parts.append("(pyinstrument not installed: cProfile only)\n")
        else:
            sampler = Profiler(interval=0.0005)
            sampler.start()
            measured(20_000_000)
            sampler.stop()
            parts.append(sampler.output_text(unicode=True, color=False, show_all=False))
        prof = cProfile.Profile()
        prof.enable()
        measured(30_000_000)
        prof.disable()
    finally:
        variant.teardown()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats("threadline", 40)
    parts.append(out.getvalue())
    path = Path(cfg.out_dir) / f"profile-{label}.txt"
    path.write_text("\n".join(parts), encoding="utf-8")
    cfg.log(f"  profile written to {path}")
    return path
