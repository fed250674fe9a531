"""Every backend's dialect, end to end over OTLP/HTTP: four real workloads, decoded from protobuf.

A local receiver decodes what the official OTLP exporter sends for the
LangGraph human-in-the-loop demo, a LangChain tool-calling loop, a LlamaIndex
query with retrieval and reranking, and an OpenAI call; per span kind, the
test checks what Phoenix (OpenInference), Langfuse and an OpenTelemetry GenAI
backend read. OpenInference names come from the ``openinference-semantic-conventions``
package, not typed again here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from openinference.semconv.resource import ResourceAttributes
from openinference.semconv.trace import (
    DocumentAttributes,
    EmbeddingAttributes,
    MessageAttributes,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    RerankerAttributes,
    SpanAttributes,
    ToolAttributes,
    ToolCallAttributes,
)

import threadline
from threadline import semconv as sc
from threadline.exporters import otlp_exporter

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


otlp_kit = _load("threadline_otlp_e2e_kit", TESTS / "core" / "test_otlp_e2e.py")
rel_kit = _load("rel_kit", TESTS / "reliability" / "rel_kit.py")

PROJECT = "support-bot"
ENVIRONMENT = "staging"


receiver = otlp_kit.receiver  # the local OTLP/HTTP receiver of the first end-to-end test


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NO_PROXY", "no_proxy"):  # a proxy configured on the machine must not catch 127.0.0.1
        monkeypatch.setenv(var, "127.0.0.1,localhost")


def _spans(server: Any) -> list[dict[str, Any]]:
    out = []
    for _path, _headers, request in server.requests:
        for resource_spans in request.resource_spans:
            resource = {kv.key: otlp_kit._value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    out.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "resource": resource,
                            "attributes": {kv.key: otlp_kit._value(kv.value) for kv in span.attributes},
                        }
                    )
    return out


def _oi(kind: OpenInferenceSpanKindValues) -> str:
    return kind.value


def _message(prefix: str, i: int, field: str) -> str:
    return f"{prefix}.{i}.{field}"


def _tool_call(prefix: str, i: int, j: int, field: str) -> str:
    return f"{prefix}.{i}.{MessageAttributes.MESSAGE_TOOL_CALLS}.{j}.{field}"


def _run_workloads() -> None:
    from threadline_langgraph import demo

    # 1. The LangGraph human-in-the-loop demo: four turns, a pause and its resume.
    demo.run("support-e2e")

    # 2. A LangChain tool-calling loop outside any graph, in an explicit session with tags and metadata.
    with threadline.session("lc-e2e", user_id="user-9", tags=["e2e", "tools"], metadata={"plan": "pro"}):
        model = demo.SupportDeskModel().bind_tools(demo.TOOLS, temperature=0.2)
        messages: list[Any] = [HumanMessage("Where is my order A-1042?")]
        reply = model.invoke(messages)
        messages.append(reply)
        tools = {t.name: t for t in demo.TOOLS}
        for call in reply.tool_calls:
            result = tools[call["name"]].invoke(call["args"])
            messages.append(ToolMessage(json.dumps(result), tool_call_id=call["id"], name=call["name"]))
        model.invoke(messages)

    # 3. A LlamaIndex query over a real index: embedding, retrieval, a node postprocessor, synthesis.
    from llama_index.core import Document
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
    from llama_index.core.llms import MockLLM
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    from scenarios.llamaindex_apps import query_engine

    class KeywordRerank(BaseNodePostprocessor):
        """Reports itself as LlamaIndex's rerankers do (Cohere, LLMRerank ...): by ReRank events."""

        def _postprocess_nodes(self, nodes: list[Any], query_bundle: Any = None) -> list[Any]:
            dispatcher = get_dispatcher("llama_index.core.postprocessor")
            dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=1, model_name="keyword-rerank"))
            kept = sorted(nodes, key=lambda n: "tent" not in n.node.get_content().lower())[:1]
            dispatcher.event(ReRankEndEvent(nodes=kept))
            return kept

    engine = query_engine(
        [Document(text="Tents ship with UPS.", doc_id="doc-ups"), "Refunds take 3-5 days."],
        MockLLM(max_tokens=8),
        similarity_top_k=2,
        node_postprocessors=[KeywordRerank()],
    )
    with threadline.session("li-e2e"):
        engine.query("How do tents ship?")

    # 4. An OpenAI chat call with a tool offered.
    backend = rel_kit.FakeOpenAI(reply="Paris.")
    client, _ = backend.clients()
    tool = {"type": "function", "function": {"name": "capital", "parameters": {"type": "object", "properties": {}}}}
    with threadline.session("oa-e2e", user_id="user-3"):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
            tools=[tool],
            temperature=0.1,
        )


def test_every_backend_reads_what_it_needs_over_otlp(receiver: Any) -> None:
    threadline.instrument(
        exporter=otlp_exporter(endpoint=receiver.url),
        integrations=["langchain", "langgraph", "llamaindex", "openai"],
        project=PROJECT,
        environment=ENVIRONMENT,
    )
    _run_workloads()
    assert threadline.flush(20)
    spans = _spans(receiver)
    assert spans, "the receiver got nothing"

    # -- every span: project, environment, kinds in all three vocabularies ---------------------------------
    for span in spans:
        a, name = span["attributes"], span["name"]
        assert span["resource"][ResourceAttributes.PROJECT_NAME] == PROJECT, name
        assert span["resource"][sc.SERVICE_NAME] == PROJECT, name
        assert a[sc.DEPLOYMENT_ENVIRONMENT] == ENVIRONMENT == a[sc.LANGFUSE_ENVIRONMENT], name
        assert a[SpanAttributes.OPENINFERENCE_SPAN_KIND] in {k.value for k in OpenInferenceSpanKindValues}, name
        assert a[sc.LANGFUSE_OBSERVATION_TYPE], name
        for value, mime in ((SpanAttributes.INPUT_VALUE, SpanAttributes.INPUT_MIME_TYPE),) + (
            (SpanAttributes.OUTPUT_VALUE, SpanAttributes.OUTPUT_MIME_TYPE),
        ):
            if value in a:
                assert a[mime] in {m.value for m in OpenInferenceMimeTypeValues}, name
                assert (a[mime] == OpenInferenceMimeTypeValues.JSON.value) == a[value].startswith(("{", "[")), name
        if sc.SESSION_ID in a:
            assert a[sc.GEN_AI_CONVERSATION_ID] == a[sc.SESSION_ID], name

    by_session: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_session.setdefault(span["attributes"].get(sc.SESSION_ID), []).append(span)
    assert {"support-e2e", "lc-e2e", "li-e2e", "oa-e2e"} <= set(by_session)
    roots = [s for s in spans if s["attributes"].get(sc.TRACE_ROOT)]
    for root in roots:
        a = root["attributes"]
        assert a[sc.LANGFUSE_TRACE_NAME] == root["name"]
        if SpanAttributes.INPUT_VALUE in a:
            assert a[sc.LANGFUSE_TRACE_INPUT] == a[SpanAttributes.INPUT_VALUE]
        if SpanAttributes.OUTPUT_VALUE in a:
            assert a[sc.LANGFUSE_TRACE_OUTPUT] == a[SpanAttributes.OUTPUT_VALUE]

    _check_demo(by_session["support-e2e"])
    _check_langchain(by_session["lc-e2e"])
    _check_llamaindex(by_session["li-e2e"])
    _check_openai(by_session["oa-e2e"])


def _llm_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        s
        for s in spans
        if s["attributes"][SpanAttributes.OPENINFERENCE_SPAN_KIND] == _oi(OpenInferenceSpanKindValues.LLM)
    ]


def _check_llm(a: dict[str, Any]) -> None:
    """What every model span carries for Phoenix and a GenAI backend."""
    inputs, outputs = SpanAttributes.LLM_INPUT_MESSAGES, SpanAttributes.LLM_OUTPUT_MESSAGES
    assert a[_message(inputs, 0, MessageAttributes.MESSAGE_ROLE)]
    assert a[_message(outputs, 0, MessageAttributes.MESSAGE_ROLE)] == "assistant"
    assert all(m["parts"] is not None and "role" in m for m in json.loads(a[sc.GEN_AI_INPUT_MESSAGES]))
    (out,) = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert out["role"] == "assistant" and out["finish_reason"] in ("stop", "tool_calls")
    assert a[SpanAttributes.LLM_MODEL_NAME] and a[SpanAttributes.LLM_PROVIDER] == "openai"
    assert isinstance(json.loads(a[SpanAttributes.LLM_INVOCATION_PARAMETERS]), dict)
    assert a[SpanAttributes.LLM_TOKEN_COUNT_PROMPT] == a[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert a[SpanAttributes.LLM_TOKEN_COUNT_COMPLETION] == a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert a[SpanAttributes.LLM_COST_TOTAL] == pytest.approx(a[sc.GEN_AI_USAGE_COST]) and a[sc.GEN_AI_USAGE_COST] > 0


def _check_tools_offered(a: dict[str, Any], names: set[str]) -> None:
    offered = {
        json.loads(v)["function"]["name"]
        for k, v in a.items()
        if k.startswith(SpanAttributes.LLM_TOOLS + ".") and k.endswith(ToolAttributes.TOOL_JSON_SCHEMA)
    }
    assert offered == names
    assert {t["name"] for t in json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS])} == names


def _check_demo(spans: list[dict[str, Any]]) -> None:
    from threadline_langgraph import demo

    for span in spans:
        a = span["attributes"]
        assert a[sc.USER_ID] == demo.CUSTOMER and a[sc.INTEGRATION] == "langgraph", span["name"]
    models = _llm_spans(spans)
    assert len(models) == 5
    for model in models:
        a = model["attributes"]
        _check_llm(a)
        _check_tools_offered(a, {"lookup_order", "issue_refund"})
        assert a[_message(SpanAttributes.LLM_INPUT_MESSAGES, 0, MessageAttributes.MESSAGE_ROLE)] == "system"
        assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS])[0]["content"] == demo.SYSTEM_PROMPT
    calls = [
        m["attributes"]
        for m in models
        if _tool_call(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, 0, ToolCallAttributes.TOOL_CALL_FUNCTION_NAME)
        in m["attributes"]
    ]
    assert len(calls) == 2  # the lookup and the refund
    refund = next(
        a
        for a in calls
        if a[_tool_call(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, 0, ToolCallAttributes.TOOL_CALL_FUNCTION_NAME)]
        == "issue_refund"
    )
    arguments = refund[
        _tool_call(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, 0, ToolCallAttributes.TOOL_CALL_FUNCTION_ARGUMENTS_JSON)
    ]
    assert json.loads(arguments)["amount"] == 189.0
    # A later call sees the tool's answer as a tool message, tied to the call it answers.
    answered = [
        m["attributes"]
        for m in models
        if any(k.endswith(MessageAttributes.MESSAGE_TOOL_CALL_ID) for k in m["attributes"])
    ]
    assert answered
    tools = [s for s in spans if s["attributes"][SpanAttributes.OPENINFERENCE_SPAN_KIND] == "TOOL"]
    assert sorted(s["attributes"][ToolAttributes.TOOL_NAME] for s in tools) == ["issue_refund", "lookup_order"]
    for tool in tools:
        a = tool["attributes"]
        assert a[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == a[SpanAttributes.INPUT_VALUE]
        assert a[sc.GEN_AI_TOOL_CALL_RESULT] == a[SpanAttributes.OUTPUT_VALUE]
        assert a[sc.LANGFUSE_OBSERVATION_TYPE] == "tool"
    roots = sorted((s for s in spans if s["attributes"].get(sc.TRACE_ROOT)), key=lambda s: s["trace_id"])
    assert len(roots) == 4
    paused = next(r["attributes"] for r in roots if r["attributes"][sc.OUTCOME] == "interrupted")
    assert paused[sc.INTERRUPTED_OUTPUT] is True
    assert json.loads(paused[SpanAttributes.OUTPUT_VALUE])["question"] == "Approve this refund?"
    assert paused[sc.LANGFUSE_TRACE_OUTPUT] == paused[SpanAttributes.OUTPUT_VALUE]
    resumed = next(r["attributes"] for r in roots if r["attributes"].get(sc.RESUME))
    assert json.loads(resumed[SpanAttributes.INPUT_VALUE]) == demo.APPROVAL


def _check_langchain(spans: list[dict[str, Any]]) -> None:
    models = _llm_spans(spans)
    assert len(models) == 2
    for span in spans:
        a = span["attributes"]
        assert a[sc.INTEGRATION] == "langchain", span["name"]  # no graph here: not "langgraph"
        assert a[sc.USER_ID] == "user-9"
        assert a[SpanAttributes.TAG_TAGS] == ["e2e", "tools"] == a[sc.LANGFUSE_TRACE_TAGS]
        assert json.loads(a[SpanAttributes.METADATA]) == {"plan": "pro"}
        assert a[sc.LANGFUSE_TRACE_METADATA_PREFIX + "plan"] == "pro"
    first, second = sorted((m["attributes"] for m in models), key=lambda a: len(a[SpanAttributes.INPUT_VALUE]))
    _check_llm(first)
    _check_llm(second)
    _check_tools_offered(first, {"lookup_order", "issue_refund"})
    assert json.loads(first[SpanAttributes.LLM_INVOCATION_PARAMETERS])["temperature"] == 0.2
    name = _tool_call(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, 0, ToolCallAttributes.TOOL_CALL_FUNCTION_NAME)
    assert first[name] == "lookup_order"
    # The second call's input: user, assistant with the tool call, the tool's answer.
    roles = [second[_message(SpanAttributes.LLM_INPUT_MESSAGES, i, MessageAttributes.MESSAGE_ROLE)] for i in range(3)]
    assert roles == ["user", "assistant", "tool"]
    assert second[_tool_call(SpanAttributes.LLM_INPUT_MESSAGES, 1, 0, ToolCallAttributes.TOOL_CALL_FUNCTION_NAME)] == (
        "lookup_order"
    )
    call_id = second[_tool_call(SpanAttributes.LLM_INPUT_MESSAGES, 1, 0, ToolCallAttributes.TOOL_CALL_ID)]
    assert second[_message(SpanAttributes.LLM_INPUT_MESSAGES, 2, MessageAttributes.MESSAGE_TOOL_CALL_ID)] == call_id
    parts = json.loads(second[sc.GEN_AI_INPUT_MESSAGES])
    assert [p["type"] for p in parts[1]["parts"]] == ["tool_call"]
    assert parts[2]["parts"][0]["type"] == "tool_call_response" and parts[2]["parts"][0]["id"] == call_id


def _check_llamaindex(spans: list[dict[str, Any]]) -> None:
    kinds = {s["attributes"][SpanAttributes.OPENINFERENCE_SPAN_KIND] for s in spans}
    assert {"EMBEDDING", "RETRIEVER", "RERANKER", "LLM"} <= kinds
    for span in spans:
        a = span["attributes"]
        kind = a[SpanAttributes.OPENINFERENCE_SPAN_KIND]
        if kind == "EMBEDDING":
            assert a[_embedding_text(0)] == "How do tents ship?"
            assert a.get(SpanAttributes.EMBEDDING_MODEL_NAME) == a.get(sc.GEN_AI_REQUEST_MODEL)
            assert sc.GEN_AI_INPUT_MESSAGES not in a and not any(
                k.startswith(SpanAttributes.LLM_INPUT_MESSAGES) for k in a
            )
        elif kind == "RETRIEVER":
            contents = _documents(a, SpanAttributes.RETRIEVAL_DOCUMENTS, DocumentAttributes.DOCUMENT_CONTENT)
            assert sorted(contents) == ["Refunds take 3-5 days.", "Tents ship with UPS."]
            assert len(_documents(a, SpanAttributes.RETRIEVAL_DOCUMENTS, DocumentAttributes.DOCUMENT_SCORE)) == 2
            assert len(_documents(a, SpanAttributes.RETRIEVAL_DOCUMENTS, DocumentAttributes.DOCUMENT_ID)) == 2
        elif kind == "RERANKER":
            assert a[RerankerAttributes.RERANKER_QUERY] == "How do tents ship?"
            assert (
                len(_documents(a, RerankerAttributes.RERANKER_INPUT_DOCUMENTS, DocumentAttributes.DOCUMENT_CONTENT))
                == 2
            )
            assert a[RerankerAttributes.RERANKER_MODEL_NAME] == "keyword-rerank"
            assert a[RerankerAttributes.RERANKER_TOP_K] == 1
            kept = _documents(a, RerankerAttributes.RERANKER_OUTPUT_DOCUMENTS, DocumentAttributes.DOCUMENT_CONTENT)
            assert kept == ["Tents ship with UPS."]
        elif kind == "LLM":
            assert a[_message(SpanAttributes.LLM_INPUT_MESSAGES, 0, MessageAttributes.MESSAGE_ROLE)]
            assert a[_message(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, MessageAttributes.MESSAGE_ROLE)] == "assistant"


def _embedding_text(i: int) -> str:
    return f"{SpanAttributes.EMBEDDING_EMBEDDINGS}.{i}.{EmbeddingAttributes.EMBEDDING_TEXT}"


def _documents(a: dict[str, Any], prefix: str, field: str) -> list[Any]:
    return [v for k, v in a.items() if k.startswith(prefix + ".") and k.endswith("." + field)]


def _check_openai(spans: list[dict[str, Any]]) -> None:
    (model,) = _llm_spans(spans)
    a = model["attributes"]
    assert a[sc.INTEGRATION] == "openai" and a[sc.USER_ID] == "user-3"
    _check_llm(a)
    _check_tools_offered(a, {"capital"})
    assert json.loads(a[SpanAttributes.LLM_INVOCATION_PARAMETERS]) == {"temperature": 0.1}
    assert a[_message(SpanAttributes.LLM_OUTPUT_MESSAGES, 0, MessageAttributes.MESSAGE_CONTENT)] == "Paris."
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert [m["role"] for m in json.loads(a[sc.GEN_AI_INPUT_MESSAGES])] == ["user"]
