"""What-if experiments behind the suggestions in ``benchmarks/README.md`` (not part of the report).

``python -m benchmarks.whatif attributes`` times the LangGraph turn and the
OpenAI call with threadline and an in-memory exporter, as shipped and with the
attributes that only repeat another attribute's value filtered out before they
reach the OpenTelemetry SDK (the OpenInference mirrors of ``gen_ai.*`` names,
the ``gen_ai.*.messages`` copies of ``input.value`` / ``output.value``, and
``gen_ai.conversation.id`` next to ``session.id``). The difference is what
emitting them costs on the caller's thread.

``python -m benchmarks.whatif exporter`` replaces the SQLite store's
``executemany`` (which releases and re-takes the GIL around every row) with
multi-row ``INSERT`` statements (one GIL round trip per 64 rows), and compares
both in a background thread next to a CPU-bound application thread, and over a
long LangGraph run with the default pipeline (turns/s, dropped spans).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from typing import Any

from benchmarks import apps, report
from benchmarks.harness import Config, Row, Variant, compare
from benchmarks.pipelines import threadline_in_memory
from benchmarks.workloads.langgraph_turn import turn_call

# Attributes whose value is always another attribute's value on the same span.
DUPLICATES = frozenset(
    {
        "openinference.span.kind",
        "llm.provider",
        "llm.model_name",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.total",
        "llm.token_count.prompt_details.cache_read",
        "llm.token_count.prompt_details.cache_write",
        "llm.token_count.completion_details.reasoning",
        "llm.cost.total",
        "llm.cost.prompt",
        "llm.cost.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.conversation.id",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)


def without_duplicates() -> Variant:
    """threadline in-memory, with :data:`DUPLICATES` dropped at the SDK's door."""
    from opentelemetry.sdk.trace import Tracer, _Span

    base = threadline_in_memory()
    original_start, original_set = Tracer.start_span, _Span.set_attributes

    def start_span(self: Any, *args: Any, **kwargs: Any) -> Any:
        attributes = kwargs.get("attributes")  # the emitter passes everything by keyword
        if attributes:
            kwargs["attributes"] = {k: v for k, v in attributes.items() if k not in DUPLICATES}
        return original_start(self, *args, **kwargs)

    def set_attributes(self: Any, attributes: Any) -> None:
        original_set(self, {k: v for k, v in attributes.items() if k not in DUPLICATES})

    def setup() -> None:
        base.setup()
        Tracer.start_span = start_span  # type: ignore[method-assign]
        _Span.set_attributes = set_attributes  # type: ignore[method-assign]

    def teardown() -> None:
        Tracer.start_span = original_start  # type: ignore[method-assign]
        _Span.set_attributes = original_set  # type: ignore[method-assign]
        base.teardown()

    return dataclasses.replace(
        base, name="threadline (in-memory exporter), duplicate attributes dropped", setup=setup, teardown=teardown
    )


ROWS_PER_STATEMENT = 64


def multirow_write(conn: Any, groups: dict[tuple[bool, ...], list[tuple[Any, ...]]]) -> None:
    """``SQLiteSpanExporter._write`` with multi-row INSERTs: one statement step per 64 rows, not per row."""
    from itertools import compress

    from threadline.store.schema import SPAN_COLUMNS

    conn.execute("BEGIN IMMEDIATE")
    try:
        for shape, values in groups.items():
            columns = ", ".join(compress(SPAN_COLUMNS, shape))
            one = "(" + ", ".join("?" for _ in range(sum(shape))) + ")"
            for i in range(0, len(values), ROWS_PER_STATEMENT):
                part = values[i : i + ROWS_PER_STATEMENT]
                sql = f"INSERT OR IGNORE INTO spans ({columns}) VALUES " + ", ".join([one] * len(part))
                conn.execute(sql, [value for row in part for value in row])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _long_run(seconds: float) -> tuple[float, int, int]:
    """LangGraph turns for ``seconds`` with ``threadline.instrument()``: turns/s, spans ended, spans dropped."""
    import time

    import threadline
    from benchmarks.pipelines import use_store
    from threadline.exporters import _safe

    use_store(tempfile.mkdtemp(prefix="threadline-whatif-"), "long")
    before = _safe.dropped_spans()
    threadline.instrument()
    call = turn_call(apps.turn_graph())(None)
    for i in range(20):
        call(i)
    threadline.flush()
    turns, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call(turns)
        turns += 1
    rate = turns / (time.perf_counter() - t0)
    threadline.shutdown()
    return rate, turns * 5, _safe.dropped_spans() - before


def exporter_experiment(seconds: float) -> str:
    """As shipped vs multi-row INSERTs: background writer next to a busy thread, and a long LangGraph run."""
    import random

    from benchmarks import spans
    from benchmarks.workloads.export import contended
    from threadline.exporters import sqlite as store

    work = tempfile.mkdtemp(prefix="threadline-whatif-")
    template = spans.template(512)
    rng = random.Random(7)
    shipped = store.SQLiteSpanExporter._write
    lines = [
        "| SQLite store write | exporter in a background thread, app thread CPU-bound: spans/s | "
        "app thread speed | long LangGraph run: turns/s | spans dropped |",
        "|---|---|---|---|---|",
    ]
    for label, write in (("executemany (as shipped)", shipped), ("multi-row INSERT, 64 rows", multirow_write)):
        store.SQLiteSpanExporter._write = staticmethod(write)  # type: ignore[method-assign]
        try:
            exporter = store.SQLiteSpanExporter(os.path.join(work, f"{len(lines)}.db"))
            exporter.export(spans.fresh_batch(template, rng))
            batches = [spans.fresh_batch(template, rng) for _ in range(40)]
            rate, speed = contended(exporter.export, batches, 512, min(seconds, 3.0))
            exporter.shutdown()
            turns, ended, dropped = _long_run(seconds)
        finally:
            store.SQLiteSpanExporter._write = shipped  # type: ignore[method-assign]
        lines.append(f"| {label} | {rate:,.0f} | {speed * 100:.0f} % | {turns:,.0f} | {dropped:,} of {ended:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run an experiment and print a markdown table."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.whatif")
    p.add_argument("experiment", choices=["attributes", "exporter"])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--block-seconds", type=float, default=0.4)
    p.add_argument("--seconds", type=float, default=30.0, help="length of each long run (exporter experiment)")
    a = p.parse_args(argv)
    cfg = Config(rounds=a.rounds, block_seconds=a.block_seconds)
    cfg.log = lambda msg: print(msg, file=sys.stderr, flush=True)
    os.environ["THREADLINE_DB"] = os.path.join(tempfile.mkdtemp(prefix="threadline-whatif-"), "t.db")
    if a.experiment == "exporter":
        print(exporter_experiment(a.seconds))
        return 0
    rows: list[Row] = []
    graph = apps.turn_graph()
    rows += compare(
        "langgraph turn", turn_call(graph)(None), [threadline_in_memory(), without_duplicates()], cfg, unit="turn"
    )
    client = apps.openai_client()

    def plain(i: int) -> Any:
        return client.chat.completions.create(model=apps.MODEL, messages=apps.MESSAGES)

    rows += compare("openai chat.completions.create", plain, [threadline_in_memory(), without_duplicates()], cfg)
    print(report.markdown(rows, {**report.environment(cfg), "load_start": None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
