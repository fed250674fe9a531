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
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from typing import Any

from benchmarks import apps, growth


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


def main() -> None:
    """Measure and print."""
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
