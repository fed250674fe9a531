"""Noise-free proxies of the hot path's cost: ``python -m benchmarks.calls``.

Where ``perf`` counters are not available (``benchmarks.instructions``), the
Python function calls a workload makes per call (counted by ``cProfile``,
the same on every run whatever else the machine does) compare two versions of
threadline on the application thread. Printed: the calls per LangGraph turn
(the 3-node ``langgraph`` workload, in-memory exporter) with and without
threadline; for the chatbot of :mod:`benchmarks.growth`, threadline's extra
calls at turns 2 and 100, and the characters of attributes on each of its
spans at turns 2 and 100 (keys and values, the dialects' left out: they are
added on the export thread).

``python -m benchmarks.calls openai llamaindex`` measures the other hot
paths instead (one OpenAI ``chat.completions.create``, plain and streamed,
over the mock transport; one LlamaIndex query): calls per call and CPU
microseconds of the application thread (``time.thread_time``: the export
thread left out) for the uninstrumented call, the bare one-span wrapper (the
OpenAI workloads) and threadline with the in-memory exporter, in interleaved
rounds. CPU overheads are given twice: fastest round against fastest round
(load on a shared machine only ever adds time, so the fastest rounds are the
steadiest figure) and the median of each round's difference.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import apps, growth
from benchmarks.harness import Variant


def calls_per_call(fn: Callable[[int], Any], n: int) -> float:
    """Python function calls per ``fn(i)``, over ``n`` calls."""
    profile = cProfile.Profile()
    profile.enable()
    for i in range(n):
        fn(i)
    profile.disable()
    return pstats.Stats(profile).total_calls / n


def chat_calls(turns: int = 100) -> dict[int, int]:
    """Python calls of turns 2 and ``turns`` of one fresh chatbot conversation."""
    bot = growth.chatbot()
    config = {"configurable": {"thread_id": "calls"}}
    out: dict[int, int] = {}
    for i in range(turns):
        profile = cProfile.Profile()
        profile.enable()
        bot.invoke({"messages": [("user", f"{i:04d} {growth.TEXT}")]}, config)
        profile.disable()
        if i in (1, turns - 1):
            out[i] = pstats.Stats(profile).total_calls
    return out


def _chars(span: Any) -> int:
    return sum(len(k) + len(str(v)) for k, v in (span.attributes or {}).items())


def hot_paths(names: Sequence[str], rounds: int = 15, n: int = 200) -> None:
    """Print calls and application-thread CPU µs per call of the OpenAI and LlamaIndex workloads."""
    from benchmarks import peers, pipelines

    workloads: list[tuple[str, Callable[[int], Any], list[Variant]]] = []
    if "openai" in names:
        client = apps.openai_client()

        def plain(i: int) -> Any:
            return client.chat.completions.create(model=apps.MODEL, messages=apps.MESSAGES)

        def streamed(i: int) -> Any:
            options = {"include_usage": True}
            stream = client.chat.completions.create(
                model=apps.MODEL, messages=apps.MESSAGES, stream=True, stream_options=options
            )
            return [chunk for chunk in stream]

        for label, call in (("openai create", plain), ("openai streamed create", streamed)):
            workloads.append((label, call, [peers.bare_openai_wrapper(), pipelines.threadline_in_memory()]))
    if "llamaindex" in names:
        engine = apps.llamaindex_engine()

        def query(i: int) -> Any:
            return engine.query(f"What does document {i % 12} say?")

        workloads.append(("llamaindex query", query, [pipelines.threadline_in_memory()]))
    for label, call, variants in workloads:
        everyone = [Variant("uninstrumented"), *variants]
        counts = {v.name: _in_variant(v, lambda c=call: calls_per_call(c, n)) for v in everyone}
        cpu: dict[str, list[float]] = {v.name: [] for v in everyone}
        for r in range(rounds):
            for v in everyone[r % len(everyone) :] + everyone[: r % len(everyone)]:
                cpu[v.name].append(_in_variant(v, lambda c=call: _thread_us(c, n)))
        base = everyone[0].name
        print(f"{label}: {counts[base]:,.0f} calls, {min(cpu[base]):,.1f} µs CPU uninstrumented (fastest round)")
        for v in variants:
            paired = statistics.median(a - b for a, b in zip(cpu[v.name], cpu[base], strict=True))
            print(
                f"  {v.name}: +{counts[v.name] - counts[base]:,.0f} calls, CPU per call"
                f" +{min(cpu[v.name]) - min(cpu[base]):,.1f} µs (fastest rounds), +{paired:,.1f} µs (median pair)"
            )


def _in_variant(variant: Variant, measure: Callable[[], float]) -> float:
    variant.setup()
    try:
        measure()  # warm-up: first-use costs out of the measure
        result = measure()
        variant.finish()
        return result
    finally:
        variant.teardown()


def _thread_us(fn: Callable[[int], Any], n: int) -> float:
    gc.collect()
    t0 = time.thread_time()
    for i in range(n):
        fn(i)
    return (time.thread_time() - t0) / n * 1e6


def main() -> None:
    """Measure and print (``openai`` / ``llamaindex`` arguments: those hot paths instead of LangGraph's)."""
    if sys.argv[1:]:
        hot_paths(sys.argv[1:])
        return
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import threadline

    graph = apps.turn_graph()

    def turn(i: int) -> None:
        graph.invoke({"question": "What is the answer?"}, apps.turn_config(i))

    for i in range(50):
        turn(i)
    plain = calls_per_call(turn, 200)
    exporter = InMemorySpanExporter()
    threadline.instrument(exporter=exporter, dialects=())
    try:
        for i in range(50):
            turn(i)
        traced = calls_per_call(turn, 200)
        threadline.flush()
        exporter.clear()
        chat_traced = chat_calls()
        threadline.flush()
        spans = exporter.get_finished_spans()
    finally:
        threadline.shutdown()
    chat_plain = chat_calls()

    print(f"3-node turn: {plain:,.0f} calls uninstrumented, {traced:,.0f} instrumented (+{traced - plain:,.0f})")
    early, late = (chat_traced[i] - chat_plain[i] for i in sorted(chat_traced))
    print(f"chatbot: threadline's calls at turn 2 +{early:,}, at turn 100 +{late:,} ({late / early:.2f}x)")
    for name, label in (("chatbot", "graph"), ("chat", "node"), (f"chat {apps.MODEL}", "model")):
        sizes = [_chars(s) for s in spans if s.name == name]
        print(f"attribute characters, {label} span: turn 2 {sizes[1]:,}, turn 100 {sizes[-1]:,}")


if __name__ == "__main__":
    main()
