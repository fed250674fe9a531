"""The registry of workloads, in report order."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import Config, Row


@dataclass(frozen=True)
class Workload:
    """One benchmark: ``run`` returns report rows (raises ``SkipError`` when it cannot run here)."""

    name: str
    module: str
    summary: str

    def runner(self) -> Callable[[Config], list[Row]]:
        """The module's ``run(cfg)``, imported on demand (frameworks load only when selected)."""
        return importlib.import_module(f"benchmarks.workloads.{self.module}").run


WORKLOADS: tuple[Workload, ...] = (
    Workload("langgraph", "langgraph_turn", "LangGraph 3-node turn with a fake chat model; peers side by side"),
    Workload("hitl", "langgraph_hitl", "LangGraph interrupt() + Command(resume=...) on one thread"),
    Workload("openai", "openai_calls", "openai chat.completions.create, plain and streamed, over httpx.MockTransport"),
    Workload("llamaindex", "llamaindex_query", "LlamaIndex query engine, MockLLM + MockEmbedding, 12 documents"),
    Workload("export", "export", "SQLite store export throughput, batches of 512, vs raw executemany"),
    Workload("store", "store", "the SQLite store at 1M spans / 10k sessions: CLI, web view, bytes, export"),
    Workload("memory", "memory", "LangGraph turns for a time budget with the SQLite store: RSS and tracemalloc"),
)


def by_name(names: list[str] | None) -> list[Workload]:
    """The selected workloads (all when ``names`` is empty); unknown names raise ``ValueError``."""
    if not names:
        return list(WORKLOADS)
    known = {w.name: w for w in WORKLOADS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]
