"""The LlamaIndex apps: real engines over a small index, with ``MockEmbedding`` and a mock LLM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM


def facts(n: int) -> list[str]:
    """``n`` short documents, each naming its number and a different answer."""
    return [f"Fact {i}: the threadline benchmark document number {i} says the answer is {40 + i}." for i in range(n)]


def index(documents: Sequence[str | Document]) -> VectorStoreIndex:
    """A vector index of ``documents`` (texts or ``Document``s) embedded by ``MockEmbedding(embed_dim=8)``.

    ``MockEmbedding`` gives every text the same vector: with several
    documents, which ones are retrieved is arbitrary but never fails.
    """
    docs = [d if isinstance(d, Document) else Document(text=d) for d in documents]
    return VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))


def query_engine(documents: Sequence[str | Document], llm: Any = None, **engine_kwargs: Any) -> Any:
    """A query engine over :func:`index` of ``documents``, answering with ``llm`` (``MockLLM()`` by default)."""
    return index(documents).as_query_engine(llm=llm if llm is not None else MockLLM(), **engine_kwargs)
