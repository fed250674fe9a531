"""Smoke test of the benchmark harness: it runs with tiny counts and writes its report.

No timing is asserted (a slow machine must not fail the suite); workloads whose
integration is not importable are skipped by the harness itself, with a note.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))


def test_quick_run_writes_markdown_and_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    md = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert md.startswith("# threadline benchmarks")
    assert md in proc.stdout

    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert data["environment"]["mode"] == "quick"
    # Every workload ran or says why it was skipped; none broke.
    workloads = data["environment"]["workloads"]
    assert set(workloads) == {"langgraph", "hitl", "openai", "llamaindex", "export", "store", "memory"}
    for name, info in workloads.items():
        assert info["status"] in {"ran", "skipped"}, (name, info)
        if info["status"] == "skipped":
            assert info["note"] and info["note"] in md
    rows = data["rows"]
    assert rows
    for row in rows:
        assert row["kind"] in {"overhead", "throughput", "memory", "store"}
        if row["note"].startswith("skipped"):
            continue
        if row["kind"] == "overhead":
            assert row["metrics"]["per_call_us"] > 0
            assert row["metrics"]["rounds"] == 2
            if row["variant"] != "uninstrumented":
                assert row["variant"] in md
        elif row["kind"] == "throughput":
            assert row["metrics"]["spans_per_s"] > 0
        elif row["kind"] == "store":
            assert row["metrics"]["value"] > 0 and row["variant"] in md
        else:
            assert row["metrics"]["turns"] > 0


def test_list_names_every_workload() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert listed == {"langgraph", "hitl", "openai", "llamaindex", "export", "store", "memory"}


def test_instruction_counter_children_run_every_variant() -> None:
    """``python -m benchmarks.instructions`` needs perf; its children (what perf wraps) run anywhere."""
    from benchmarks.instructions import PLAN

    for workload, variant in [("langgraph", "default"), ("langgraph", "bare"), ("openai", "bare"), ("hitl", "memory")]:
        assert variant in PLAN[workload][1]
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.instructions", "--child", workload, variant, "3"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert "child: cpu_us=" in proc.stderr


def test_instruction_table_reports_ratios_to_the_uninstrumented_run() -> None:
    from benchmarks.instructions import table

    md = table(
        {
            "langgraph": {
                "off": {"instructions": 5_000_000, "gc_per_1000": 0},
                "default": {"instructions": 8_000_000, "gc_per_1000": 90},
            }
        }
    )
    assert "| langgraph | uninstrumented | 5,000,000 | 1.00 | – | 0 |" in md
    assert "| langgraph | threadline (default: SQLite store) | 8,000,000 | 1.60 | 3,000,000 | 90 |" in md
