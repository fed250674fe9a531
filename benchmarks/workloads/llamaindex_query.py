"""LlamaIndex: a query over a 12-document vector index with ``MockLLM`` and ``MockEmbedding``.

Embedding, retrieval, synthesis and the LLM call all run through LlamaIndex's
instrumentation dispatcher; only the models are mocks.
"""

from __future__ import annotations

from typing import Any

from benchmarks import apps
from benchmarks.harness import Config, Row
from benchmarks.pipelines import default_and_in_memory, require


def run(cfg: Config) -> list[Row]:
    """Uninstrumented vs threadline with the default exporter."""
    require("llama_index.core", "threadline_llamaindex")
    engine = apps.llamaindex_engine()

    def query(i: int) -> Any:
        return engine.query(f"What does document {i % 12} say?")

    return default_and_in_memory(cfg, "llamaindex query", "llamaindex", query, unit="query")
