"""The LlamaIndex apps: real engines over a small index, with ``MockLLM`` and ``MockEmbedding``."""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM


def query_engine(documents: int = 12) -> Any:
    """A query engine over ``documents`` short facts (top 2 retrieved), with ``MockLLM`` and ``MockEmbedding``."""
    docs = [
        Document(text=f"Fact {i}: the threadline benchmark document number {i} says the answer is {40 + i}.")
        for i in range(documents)
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    return index.as_query_engine(llm=MockLLM(max_tokens=16), similarity_top_k=2)
