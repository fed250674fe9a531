"""``python -m benchmarks``: run the workloads, print and write the report."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import report
from benchmarks.harness import Config, Row, SkipError
from benchmarks.workloads import WORKLOADS, by_name

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="threadline overhead, export throughput and memory benchmarks.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="tiny counts (seconds): checks the harness, not speed")
    mode.add_argument("--full", action="store_true", help="the published run (default)")
    p.add_argument("-w", "--workloads", nargs="+", metavar="NAME", help="run only these workloads")
    p.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="leave these workloads out")
    p.add_argument("--rounds", type=int, help="interleaved rounds per workload (default 9; quick 2)")
    p.add_argument("--block-seconds", type=float, help="target length of one timed block (default 0.4)")
    p.add_argument("--memory-seconds", type=float, help="time budget of the memory run (default 120; quick 1)")
    p.add_argument("--export-batches", type=int, help="batches of 512 spans per export measurement (default 200)")
    p.add_argument("--profile", action="store_true", help="also cProfile each instrumented workload")
    p.add_argument("--out", type=Path, default=RESULTS, help="where latest.md / latest.json go")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace, workdir: str) -> Config:
    """The measurement settings the flags ask for."""
    cfg = Config.quick() if args.quick else Config.full()
    if args.rounds:
        cfg.rounds = args.rounds
    if args.block_seconds:
        cfg.block_seconds = args.block_seconds
    if args.memory_seconds:
        cfg.memory_seconds = args.memory_seconds
    if args.export_batches:
        cfg.export_batches = args.export_batches
    cfg.profile = args.profile
    cfg.workdir = workdir
    cfg.out_dir = str(args.out)
    cfg.log = lambda msg: print(msg, file=sys.stderr, flush=True)
    return cfg


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads; write ``latest.md`` and ``latest.json``; 0 unless the harness broke."""
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.name:<11} {w.summary}")
        return 0
    selected = [w for w in by_name(args.workloads) if w.name not in set(args.skip)]
    # Never call a real API, never write into the repository's .threadline/.
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    logging.getLogger("threadline").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as workdir:
        os.environ["THREADLINE_DB"] = str(Path(workdir) / "default.db")
        cfg = build_config(args, workdir)
        args.out.mkdir(parents=True, exist_ok=True)
        load_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
        rows: list[Row] = []
        status: dict[str, dict[str, object]] = {}
        broken = False
        for w in selected:
            cfg.log(f"[{w.name}] {w.summary}")
            t0 = time.perf_counter()
            state, note = "ran", ""
            try:
                rows += w.runner()(cfg)
            except SkipError as exc:
                state, note = "skipped", str(exc)
                rows.append(Row(w.name, "–", "overhead", note=f"skipped: {exc}"))
                cfg.log(f"  skipped: {exc}")
            except Exception as exc:
                broken = True
                state, note = "failed", f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                rows.append(Row(w.name, "–", "overhead", note=f"skipped: failed with {note}"))
            finally:
                _reset_threadline()
            status[w.name] = {"status": state, "note": note, "seconds": round(time.perf_counter() - t0, 1)}
            cfg.log(f"  {state} in {status[w.name]['seconds']} s")
        env = report.environment(cfg)
        env["workloads"] = status
        env["load_start"] = load_start
        md, js = report.write(rows, env, args.out)
    print(md.read_text(encoding="utf-8"))
    print(f"written: {md} and {js}", file=sys.stderr)
    return 1 if broken else 0


def _reset_threadline() -> None:
    try:
        import threadline

        threadline.shutdown(timeout=5)
    except Exception:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
