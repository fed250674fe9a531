"""LangGraph: one conversational turn of a 3-node graph (5 spans), against the bare run and the peers.

Target: instrumented / uninstrumented <= 1.35 with the default exporter
(``threadline.instrument()``: the SQLite store behind a batch processor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import apps, peers
from benchmarks.harness import Config, Row, compare, profile
from benchmarks.pipelines import require, threadline_default, threadline_in_memory

TARGET_RATIO = 1.35


def turn_call(graph: Any) -> peers.CallWith:
    """``call_with(callbacks)(i)`` runs turn ``i`` of the graph, passing ``callbacks`` in its config."""

    def call_with(callbacks: list[Any] | None) -> Callable[[int], Any]:
        def call(i: int) -> Any:
            return graph.invoke({"question": f"question {i}?"}, apps.turn_config(i, callbacks))

        return call

    return call_with


def run(cfg: Config) -> list[Row]:
    """Uninstrumented vs threadline (SQLite, in-memory) vs the bare handler and the peers."""
    require("langgraph", "threadline_langgraph")
    graph = apps.turn_graph()
    call_with = turn_call(graph)
    default = threadline_default(cfg.workdir, "langgraph-turn")
    default.target_ratio = TARGET_RATIO
    variants = [
        default,
        threadline_default(cfg.workdir, "langgraph-turn-nocontent", capture_content=False),
        threadline_in_memory(),
        *peers.langchain_variants(call_with),
    ]
    rows = compare("langgraph turn", call_with(None), variants, cfg, unit="turn")
    profile(cfg, "langgraph", call_with(None), threadline_default(cfg.workdir, "langgraph-profile"))
    return rows
