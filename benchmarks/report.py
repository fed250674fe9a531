"""The markdown table and JSON written to ``benchmarks/results/latest.{md,json}``."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.harness import Config, Row

_PACKAGES = (
    "threadline",
    "opentelemetry-sdk",
    "langchain-core",
    "langgraph",
    "openai",
    "llama-index-core",
    "openinference-instrumentation-langchain",
    "opentelemetry-instrumentation-langchain",
    "langfuse",
)


def environment(cfg: Config) -> dict[str, Any]:
    """Where and how the numbers were taken."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "executable": sys.executable,
        "mode": cfg.mode,
        "rounds": cfg.rounds,
        "block_seconds": cfg.block_seconds,
        "memory_seconds": cfg.memory_seconds,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "packages": versions,
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _met(row: Row) -> str:
    if row.met is None:
        return ""
    return "**met**" if row.met else "**missed**"


VERDICT = ["target", "", "note"]
"""The headers of the last three columns of every table: a row's target, whether it was met, its note."""


def _verdict(row: Row) -> list[str]:
    return [row.target, _met(row), row.note]


def _table(header: Sequence[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return out


def markdown(rows: Sequence[Row], env: dict[str, Any]) -> str:
    """The report as markdown."""
    pk = env.get("packages", {})
    lines = [
        "# threadline benchmarks — latest run",
        "",
        f"{env['date']} · {env['implementation']} {env['python']} · {env['platform']} · {env['cpus']} CPUs · "
        f"mode `{env['mode']}` ({env['rounds']} interleaved rounds) · load average at start {env.get('load_start')}, "
        f"at end {env.get('load_average')}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
        "",
    ]
    overhead = [r for r in rows if r.kind == "overhead" and not r.note.startswith("skipped")]
    if overhead:
        lines += ["## Overhead against the uninstrumented run", ""]
        body = []
        for r in overhead:
            m = r.metrics
            if r.variant == "uninstrumented":
                dashes = ["–", "–", "1.00", "–", "–", "", "", ""]
                body.append([r.workload, r.variant, _fmt(m["per_call_us"]), "1.00", *dashes])
                continue
            body.append(
                [
                    r.workload,
                    r.variant,
                    _fmt(m["per_call_us"]),
                    f"{m['ratio']:.2f}",
                    f"{m['ratio_min']:.2f}–{m['ratio_max']:.2f}",
                    _fmt(m["overhead_us"]),
                    f"{m['cpu_ratio']:.2f}" if m.get("cpu_ratio") is not None else "–",
                    _fmt(m.get("cpu_overhead_us")),
                    _fmt(m.get("spans_per_call"), 2),
                    *_verdict(r),
                ]
            )
        lines += _table(
            [
                "workload",
                "variant",
                "µs / call",
                "ratio (median)",
                "ratio range",
                "overhead µs / call",
                "CPU ratio",
                "CPU overhead µs / call",
                "spans / call",
                *VERDICT,
            ],
            body,
        )
        lines.append("")
    throughput = [r for r in rows if r.kind == "throughput"]
    if throughput:
        lines += ["## Export throughput", ""]
        body = [
            [
                r.workload,
                r.variant,
                _fmt(r.metrics.get("spans_per_s"), 0),
                _fmt(r.metrics.get("us_per_span"), 2),
                _fmt(r.metrics.get("vs_limit_pct"), 0) + " %" if r.metrics.get("vs_limit_pct") is not None else "–",
                *_verdict(r),
            ]
            for r in throughput
        ]
        lines += _table(["workload", "variant", "spans / s", "µs / span", "of raw limit", *VERDICT], body)
        lines.append("")
    store = [r for r in rows if r.kind == "store"]
    if store:
        lines += ["## The store at scale", ""]
        body = [[r.variant, _fmt(r.metrics.get("value"), 1), *_verdict(r)] for r in store]
        lines += _table(["measure", "value", *VERDICT], body)
        lines.append("")
    memory = [r for r in rows if r.kind == "memory"]
    if memory:
        lines += ["## Memory over a long run", ""]
        body = []
        for r in memory:
            m = r.metrics
            body.append(
                [
                    r.workload,
                    r.variant,
                    _fmt(m.get("turns")),
                    _fmt(m.get("seconds")),
                    f"{_fmt(m.get('rss_warm_mb'))} → {_fmt(m.get('rss_end_mb'))} MB",
                    _fmt(m.get("rss_growth_pct"), 2) + " %",
                    f"{_fmt(m.get('traced_turns'))} turns",
                    f"{_fmt(m.get('traced_growth_kb'))} KB ({_fmt(m.get('traced_growth_bytes_per_turn'))} B / turn)",
                    _fmt(m.get("leftover_handles")),
                    _fmt(m.get("dropped_spans")),
                    *_verdict(r),
                ]
            )
        lines += _table(
            [
                "workload",
                "variant",
                "turns",
                "seconds",
                "RSS after warm-up → end",
                "RSS growth",
                "traced stretch",
                "traced growth (per turn)",
                "open handles at end",
                "dropped spans",
                *VERDICT,
            ],
            body,
        )
        lines.append("")
    skipped = [r for r in rows if r.note.startswith("skipped")]
    if skipped:
        lines += ["## Skipped", ""]
        lines += [
            f"- **{r.workload}**{'' if r.variant == '–' else ' / ' + r.variant}: {r.note.removeprefix('skipped: ')}"
            for r in skipped
        ]
        lines.append("")
    lines += [
        "µs / call is the median over rounds of the per-call wall time; the ratio and overhead are taken per "
        "round against the uninstrumented block of the same round, then the median (targets are judged on these "
        "wall-clock medians). CPU ratio / overhead use the process CPU time of all threads (the exporter's "
        "included), which a busy machine disturbs less. Instrumented blocks end with a flush of the exporter, so "
        "export work caused by a block is paid by that block.",
        "",
    ]
    return "\n".join(lines)


def write(rows: Sequence[Row], env: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / "latest.md", out_dir / "latest.json"
    md_path.write_text(markdown(rows, env), encoding="utf-8")
    json_path.write_text(
        json.dumps({"environment": env, "rows": [r.as_dict() for r in rows]}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return md_path, json_path
