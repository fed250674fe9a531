"""Query engines over a real VectorStoreIndex: the span tree, retrieval, usage and cost."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from li_kit import OPENAI_MODEL, OPENAI_RESPONSE_MODEL, ScriptedLLM, openai_cost
from llama_index.core import Document, VectorStoreIndex

from tests.kit import attrs as _attrs
from threadline import semconv as sc

DOCS = ["Apples are red.", "Bananas are yellow.", "Grapes are purple."]


@pytest.fixture
def index(embed_model):
    return VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=embed_model)


def test_query_engine_tree_usage_and_cost(spans, index, llm):
    spans.clear()  # the index build embedded the documents: not under test here
    response = index.as_query_engine(llm=llm, similarity_top_k=2).query("What colour are apples?")
    assert str(response) == "The answer is 42."

    assert spans.tree() == "\n".join(
        [
            "RetrieverQueryEngine.query",
            "  VectorIndexRetriever.retrieve",
            "    MockEmbedding.get_query_embedding",
            "  CompactAndRefine.synthesize",
            f"    chat {OPENAI_MODEL}",
        ]
    ), spans.tree()
    assert len(spans.traces()) == 1

    query = spans.one("RetrieverQueryEngine.query")
    assert _attrs(query)[sc.SPAN_KIND] == "chain"
    assert _attrs(query)[sc.OI_INPUT_VALUE] == "What colour are apples?"
    assert _attrs(query)[sc.OI_OUTPUT_VALUE] == "The answer is 42."
    assert _attrs(query)[sc.INTEGRATION] == "llamaindex"

    retrieve = _attrs(spans.one("VectorIndexRetriever.retrieve"))
    assert retrieve[sc.SPAN_KIND] == "retrieval"
    assert retrieve[sc.GEN_AI_OPERATION_NAME] == sc.OP_RETRIEVAL
    assert retrieve[sc.GEN_AI_DATA_SOURCE_ID] == index.index_id
    assert retrieve[sc.OI_INPUT_VALUE] == "What colour are apples?"
    assert retrieve[sc.OI_OUTPUT_VALUE].count('"content"') == 2

    embedding = _attrs(spans.one("MockEmbedding.get_query_embedding"))
    assert embedding[sc.SPAN_KIND] == "embedding"
    assert embedding[sc.GEN_AI_OPERATION_NAME] == sc.OP_EMBEDDINGS
    assert embedding[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8

    model = _attrs(spans.one(f"chat {OPENAI_MODEL}"))
    assert model[sc.SPAN_KIND] == "model"
    assert model[sc.GEN_AI_REQUEST_MODEL] == OPENAI_MODEL
    assert model[sc.GEN_AI_RESPONSE_MODEL] == OPENAI_RESPONSE_MODEL
    assert model[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert model[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert model[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert model[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
    assert model[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 150
    assert model[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(120, 30), abs=1e-12)
    # the two retrieved documents went to the model
    assert sum(doc in model[sc.GEN_AI_INPUT_MESSAGES] for doc in DOCS) == 2
    # Only the model call carries usage: nothing to double count.
    assert [s.name for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in (s.attributes or {})] == [
        f"chat {OPENAI_MODEL}"
    ]


def test_index_build_embeddings_are_one_span_per_batch(spans, embed_model):
    VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=embed_model)
    batch = spans.one("MockEmbedding.get_text_embedding_batch")
    assert batch.parent is None
    assert _attrs(batch)[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    assert all(t in _attrs(batch)[sc.OI_INPUT_VALUE] for t in DOCS)
    # Text splitters and the per-text embedding helpers are folded away.
    assert [s.name for s in spans.finished()] == ["MockEmbedding.get_text_embedding_batch"]


async def test_async_query(spans, index, llm):
    spans.clear()
    response = await index.as_query_engine(llm=llm).aquery("What colour are bananas?")
    assert str(response) == "The answer is 42."
    query = spans.one("RetrieverQueryEngine.aquery")
    names = [c.name for c in spans.children(query)]
    assert names == ["VectorIndexRetriever.aretrieve", "CompactAndRefine.asynthesize"], spans.tree()
    model = spans.one(f"chat {OPENAI_MODEL}")
    assert model.parent.span_id == spans.one("CompactAndRefine.asynthesize").context.span_id
    assert model.context.trace_id == query.context.trace_id
    assert _attrs(model)[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(120, 30), abs=1e-12)


async def test_concurrent_queries_keep_separate_trees(spans, index):
    spans.clear()
    questions = [f"question {i}?" for i in range(6)]
    engines = [index.as_query_engine(llm=ScriptedLLM(answer=f"answer {i}")) for i in range(6)]
    answers = await asyncio.gather(*(e.aquery(q) for e, q in zip(engines, questions, strict=True)))
    assert [str(a) for a in answers] == [f"answer {i}" for i in range(6)]

    traces = spans.traces()
    assert len(traces) == 6
    for members in traces.values():
        root = [s for s in members if s.parent is None]
        assert len(root) == 1 and root[0].name == "RetrieverQueryEngine.aquery"
        question = _attrs(root[0])[sc.OI_INPUT_VALUE]
        answer = _attrs(root[0])[sc.OI_OUTPUT_VALUE]
        assert answer == f"answer {questions.index(question)}"
        # every span of the trace hangs under this root
        ids = {s.context.span_id for s in members}
        assert all(s.parent.span_id in ids for s in members if s.parent is not None)
        models = [s for s in members if _attrs(s).get(sc.SPAN_KIND) == "model"]
        assert len(models) == 1
        assert question in _attrs(models[0])[sc.GEN_AI_INPUT_MESSAGES]


def test_query_error_ends_every_span_as_error(spans, index):
    spans.clear()
    engine = index.as_query_engine(llm=ScriptedLLM(fail=True))
    with pytest.raises(Exception, match="provider is down"):
        engine.query("anything?")
    model = spans.one(f"chat {OPENAI_MODEL}")
    query = spans.one("RetrieverQueryEngine.query")
    for span in (model, query, spans.one("CompactAndRefine.synthesize")):
        assert span.status.status_code.name == "ERROR", span.name
        assert _attrs(span)[sc.OUTCOME] == "error"
        assert _attrs(span)[sc.ERROR_TYPE] == "ProviderDownError"
        assert any(e.name == "exception" for e in span.events)
    assert _attrs(spans.one("VectorIndexRetriever.retrieve"))[sc.OUTCOME] == "ok"


def test_queries_in_threads_are_separate_traces(spans, index):
    spans.clear()
    engines = [index.as_query_engine(llm=ScriptedLLM(answer=f"answer {i}")) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda e: str(e.query("q?")), engines))
    assert answers == [f"answer {i}" for i in range(4)]
    traces = spans.traces()
    assert len(traces) == 4
    for members in traces.values():
        assert len(members) == 5, spans.tree()
        assert [s.name for s in members if s.parent is None] == ["RetrieverQueryEngine.query"]
