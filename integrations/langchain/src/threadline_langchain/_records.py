"""What a LangChain run's callbacks say, as threadline record fields.

The callbacks' keyword arguments (``run_id``, ``parent_run_id``, ``tags``,
``metadata``, ``name``, ``invocation_params`` ...) are passed around as one
mapping, ``run``. Runs tagged ``langsmith:hidden`` are folded into their
parent; LangChain's and LangGraph's bookkeeping tags are not the user's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from threadline import semconv as sc
from threadline.content import ContentPolicy
from threadline.records import ModelCall, Outcome, SpanRecord
from threadline_langchain import _extract as ex
from threadline_langchain._messages import forget
from threadline_langchain._outcome import outcome_of
from threadline_langchain._registry import RunEntry

HIDDEN_TAG = "langsmith:hidden"
_INTERNAL_TAG_PREFIXES = ("seq:step:", "graph:step:", "map:key:", "langsmith:")
AGENT_CHAIN_NAMES = frozenset({"AgentExecutor"})
# What LangChain passes as a streamed run's input at its start; the real one comes with its end.
STREAMED_INPUT = {"input": ""}

Update = Callable[[RunEntry, SpanRecord], None]


def user_tags(tags: Sequence[str] | None) -> list[str] | None:
    """The tags a user set, without LangChain's and LangGraph's bookkeeping tags."""
    if not tags:
        return None
    kept = [t for t in tags if isinstance(t, str) and not t.startswith(_INTERNAL_TAG_PREFIXES)]
    return kept or None


def is_hidden(run: Mapping[str, Any]) -> bool:
    """True for a run tagged ``langsmith:hidden`` (folded into its parent)."""
    tags = run.get("tags")
    return bool(tags) and HIDDEN_TAG in tags


def run_name(serialized: Any, run: Mapping[str, Any], default: str) -> str:
    """A run's name: the ``name`` LangChain passes, else the serialized class name."""
    name = run.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        if isinstance(serialized.get("name"), str) and serialized["name"]:
            return serialized["name"]
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def model_inputs(content: ContentPolicy, prompts: Sequence[Any], *, chat: bool) -> Any:
    """A model run's input: its messages (as text where it can be made once per message) or its prompt(s)."""
    if not content.capture:
        forget()  # switched off by instrument() again: no message content stays in memory
        return None
    if not chat:
        return prompts[0] if len(prompts) == 1 else list(prompts)
    if len(prompts) == 1:
        return ex.messages_view(prompts[0], content)
    return [ex.messages_view(m) for m in prompts]


def apply_model_result(entry: RunEntry, record: SpanRecord, response: Any) -> None:
    """Fill a model run's record from its ``LLMResult``: outputs, usage, response model and id, finish reasons."""
    if not isinstance(record, ModelCall):
        return
    result = ex.ModelResult(response, chat=record.operation == sc.OP_CHAT)
    record.outputs = result.outputs
    if result.usage is not None:
        record.usage = result.usage
    record.response_model = result.model or record.response_model
    record.response_id = result.response_id or record.response_id
    record.finish_reasons = result.finish_reasons or record.finish_reasons
    if record.provider is None and result.provider:
        record.provider = result.provider
        record.attributes[sc.GEN_AI_PROVIDER_NAME] = result.provider
        record.attributes[sc.OI_LLM_PROVIDER] = result.provider
    if entry.token_seen:
        record.stream_end_reason = "completed"


def model_error_update(error: BaseException) -> Update:
    """How a model run that raised ends its stream: closed early when cancelled, else in error."""

    def update(entry: RunEntry, record: SpanRecord) -> None:
        if isinstance(record, ModelCall) and entry.token_seen:
            cancelled = outcome_of(error) is Outcome.CANCELLED
            record.stream_end_reason = "closed_early" if cancelled else "error"

    return update
