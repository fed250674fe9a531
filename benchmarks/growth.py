"""Does a turn's overhead grow with the conversation? ``python -m benchmarks.growth``.

LangGraph's quickstart chatbot (``MessagesState``, one ``chat`` node calling a
fake chat model, ``InMemorySaver``): conversations of ``--turns`` turns, each
message ~200 characters. Conversations run in pairs, uninstrumented then with
``threadline.instrument()`` (the SQLite store, or ``--in-memory``), alternating
which goes first. Each turn is timed in process CPU time (all threads, the
exporter's included: on a shared machine wall time swings by more than the
overhead itself) and without a flush (a flush per turn costs ~3 ms of thread
hand-off and commit, which would hide the rest); the conversation ends with
a flush outside the timings. For the first and last ``--window`` turns: the
overhead per turn (difference of the window medians), its median over pairs,
and the ratio last / first. The model span records the whole history (what
the model was sent), so some growth is threadline's by design; node spans
record their update only (``THREADLINE_LANGGRAPH_NODE_INPUTS=full`` records
the whole state, for comparison).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from typing import Any

from benchmarks import apps

TEXT = "Could you tell me more about the order I placed last week, and when it ships? " * 3


def chatbot() -> Any:
    """START -> chat -> END over ``MessagesState`` with a checkpointer: the whole history goes to the model."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, MessagesState, StateGraph

    llm = apps.fake_chat_model()
    builder = StateGraph(MessagesState)
    builder.add_node("chat", lambda state: {"messages": [llm.invoke(state["messages"])]})
    builder.add_edge(START, "chat")
    return builder.compile(checkpointer=InMemorySaver(), name="chatbot")


def conversation(turns: int, thread: str, flush: Any) -> list[float]:
    """CPU seconds (all threads) per turn of one fresh conversation; ``flush`` once at the end, not timed."""
    graph = chatbot()
    config = {"configurable": {"thread_id": thread}}
    times = []
    gc.collect()
    for i in range(turns):
        start = time.process_time()
        graph.invoke({"messages": [("user", f"{i:04d} {TEXT}")]}, config)
        times.append(time.process_time() - start)
    flush()
    return times


def main(argv: list[str] | None = None) -> None:
    """Run the pairs and print the table."""
    import threadline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--in-memory", action="store_true", help="an in-memory exporter instead of the store")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="threadline-growth-")
    firsts, lasts, base_first, base_last = [], [], [], []
    w = args.window
    for pair in range(args.pairs):
        runs: dict[str, list[float]] = {}
        for variant in ("plain", "traced") if pair % 2 == 0 else ("traced", "plain"):
            if variant == "plain":
                runs[variant] = conversation(args.turns, f"plain-{pair}", lambda: None)
                continue
            if args.in_memory:
                from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

                threadline.instrument(exporter=InMemorySpanExporter())
            else:
                os.environ["THREADLINE_DB"] = os.path.join(workdir, f"growth-{pair}.db")
                threadline.instrument()
            try:
                runs[variant] = conversation(args.turns, f"traced-{pair}", threadline.flush)
            finally:
                threadline.shutdown()
        plain, traced = runs["plain"], runs["traced"]
        firsts.append(statistics.median(traced[1 : w + 1]) - statistics.median(plain[1 : w + 1]))
        lasts.append(statistics.median(traced[-w:]) - statistics.median(plain[-w:]))
        base_first.append(statistics.median(plain[1 : w + 1]))
        base_last.append(statistics.median(plain[-w:]))
        print(f"pair {pair}: overhead turns 2-{w + 1} {firsts[-1] * 1e6:,.0f} µs, last {w} {lasts[-1] * 1e6:,.0f} µs")

    first, last = statistics.median(firsts), statistics.median(lasts)
    mode = "in-memory exporter" if args.in_memory else "SQLite store"
    node_inputs = os.environ.get("THREADLINE_LANGGRAPH_NODE_INPUTS") or "update (default)"
    print(f"\n{mode}, node inputs: {node_inputs}; {args.pairs} pairs of {args.turns}-turn conversations")
    print("| window | uninstrumented CPU µs / turn | overhead CPU µs / turn (median of pairs) |")
    print("|---|---|---|")
    print(f"| turns 2-{w + 1} | {statistics.median(base_first) * 1e6:,.0f} | {first * 1e6:,.0f} |")
    late = f"turns {args.turns - w + 1}-{args.turns}"
    print(f"| {late} | {statistics.median(base_last) * 1e6:,.0f} | {last * 1e6:,.0f} |")
    spread = f"{min(lasts) / max(firsts):.2f}-{max(lasts) / min(firsts):.2f}"
    print(f"overhead last / first: {last / first:.2f} (extremes over pairs {spread})")


if __name__ == "__main__":
    main()
