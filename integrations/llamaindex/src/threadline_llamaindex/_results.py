"""What a dispatcher span returned, or an LLM response event told, written into its record."""

from __future__ import annotations

import inspect
from typing import Any

from threadline import semconv as sc
from threadline.records import ModelCall, Run, SpanKind, SpanRecord
from threadline_llamaindex import _extract as ex
from threadline_llamaindex._classify import Category
from threadline_llamaindex._entry import Entry

_ANSWERS = (Category.QUERY_ENGINE, Category.SYNTHESIZER, Category.CHAT_ENGINE)


def apply_result(entry: Entry, record: SpanRecord, result: Any, capture: bool) -> None:
    """The outputs (or embedding size) of a span that returned ``result``."""
    category = entry.category
    if category is Category.EMBEDDING:
        dims = _dimensions(result)
        if dims:
            record.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
        return
    if not capture or result is None:
        return
    if category is Category.RETRIEVER:
        record.outputs = documents(result)
    elif category in _ANSWERS:
        text = ex.get(result, "response")
        if isinstance(text, str):
            record.outputs = text
    elif category is Category.TOOL:
        content = ex.get(result, "content")
        record.outputs = content if content is not None else result
    elif entry.is_run:
        final = _workflow_result(result)
        if final is not None:
            record.outputs = final
    elif category is None and isinstance(record, Run) and record.run_kind is SpanKind.NODE:
        return  # a step: its output summary came with WorkflowStepOutputEvent
    elif not (inspect.isgenerator(result) or inspect.isasyncgen(result) or inspect.isawaitable(result)):
        record.outputs = result


def apply_response(entry: Entry, response: Any, capture: bool) -> None:
    """An LLM ``ChatResponse`` / ``CompletionResponse``: output, usage, and what its raw response says."""
    record = entry.handle.record  # type: ignore[union-attr]
    if response is None or not isinstance(record, ModelCall):
        return
    if capture:
        if record.operation == sc.OP_CHAT:
            msg = ex.get(response, "message")
            if msg is not None:
                record.outputs = ex.message(msg)
        else:
            text = ex.get(response, "text")
            if text is not None:
                record.outputs = text
    entry.usage = ex.merge_usage(entry.usage, ex.usage_of(response))
    record.usage = entry.usage
    raw = ex.get(response, "raw")
    if raw is not None:
        apply_raw(record, raw)


def apply_raw(record: Any, raw: Any) -> None:
    """Response model, id and finish reasons from a provider's raw response (or one stream chunk of it)."""
    if not isinstance(record, ModelCall):
        return
    record.response_model = ex.response_model(raw) or record.response_model
    record.response_id = ex.response_id(raw) or record.response_id
    record.finish_reasons = ex.finish_reasons(raw) or record.finish_reasons


def has_token(response: Any) -> bool:
    """A streamed response chunk carries output (text or a tool call): the first one is time to first token."""
    delta = ex.get(response, "delta")
    if isinstance(delta, str) and delta:
        return True
    return bool(ex.tool_calls(ex.get(response, "message")))


def _dimensions(result: Any) -> int | None:
    if isinstance(result, list) and result:
        first = result[0]
        if isinstance(first, (list, dict)):
            return len(first) or None
        if isinstance(first, (int, float)):
            return len(result)
    return None


def documents(nodes: Any) -> Any:
    """Retrieved or reranked nodes as ``{"id", "score", "content"}`` documents."""
    if not isinstance(nodes, list):
        return None
    docs = []
    for item in nodes:
        node = ex.get(item, "node", item)
        try:
            content = node.get_content()
        except Exception:
            content = None
        docs.append({"id": ex.get(node, "node_id"), "score": ex.get(item, "score"), "content": content})
    return docs


def _workflow_result(stop_event: Any) -> Any:
    """The final answer of a workflow run: an agent's response text, or ``StopEvent.result``."""
    result = ex.get(stop_event, "result")
    if result is None:
        return None
    response = ex.get(result, "response")
    if response is not None and type(result).__name__ == "AgentOutput":
        content = ex.get(response, "content")
        return content if content is not None else ex.message(response)
    return result
