"""Which dispatcher spans become threadline spans, decided by class and method.

LlamaIndex opens a dispatcher span around nearly every public and abstract
method (``query`` and ``_query``, every text splitter call, each embedding of
a batch ...). threadline keeps the spans a user reasons about and folds the
rest into their nearest kept ancestor, so children still parent correctly.
Classes are recognised by walking the MRO for known base classes by module
and name, so nothing is imported to classify.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Category(str, Enum):
    """What kind of LlamaIndex object a dispatcher span runs on."""

    LLM = "llm"
    EMBEDDING = "embedding"
    RETRIEVER = "retriever"
    QUERY_ENGINE = "query_engine"
    SYNTHESIZER = "synthesizer"
    CHAT_ENGINE = "chat_engine"
    STREAM_WRITER = "stream_writer"  # StreamingAgentChatResponse: the chat engine's stream consumer
    TOOL = "tool"
    POSTPROCESSOR = "postprocessor"
    PIPELINE = "pipeline"
    AGENT = "agent"
    WORKFLOW = "workflow"
    INTERNAL = "internal"  # any other LlamaIndex / workflows class: folded into its parent
    USER = "user"  # the user's own class with a dispatcher span: kept as a chain


_BASES: dict[tuple[str, str], Category] = {
    ("llama_index.core.base.llms.base", "BaseLLM"): Category.LLM,
    ("llama_index.core.multi_modal_llms.base", "MultiModalLLM"): Category.LLM,
    ("llama_index.core.base.embeddings.base", "BaseEmbedding"): Category.EMBEDDING,
    ("llama_index.core.base.embeddings.base_sparse", "BaseSparseEmbedding"): Category.EMBEDDING,
    ("llama_index.core.base.base_retriever", "BaseRetriever"): Category.RETRIEVER,
    ("llama_index.core.base.base_query_engine", "BaseQueryEngine"): Category.QUERY_ENGINE,
    ("llama_index.core.response_synthesizers.base", "BaseSynthesizer"): Category.SYNTHESIZER,
    ("llama_index.core.chat_engine.types", "BaseChatEngine"): Category.CHAT_ENGINE,
    ("llama_index.core.chat_engine.types", "StreamingAgentChatResponse"): Category.STREAM_WRITER,
    ("llama_index.core.tools.types", "BaseTool"): Category.TOOL,
    ("llama_index.core.postprocessor.types", "BaseNodePostprocessor"): Category.POSTPROCESSOR,
    ("llama_index.core.ingestion.pipeline", "IngestionPipeline"): Category.PIPELINE,
    ("llama_index.core.agent.workflow.base_agent", "BaseWorkflowAgent"): Category.AGENT,
    ("llama_index.core.agent.workflow.multi_agent_workflow", "AgentWorkflow"): Category.AGENT,
    ("workflows.workflow", "Workflow"): Category.WORKFLOW,
}

# The methods of each category that become spans; any other method is folded.
CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
COMPLETION_METHODS = frozenset({"complete", "acomplete", "stream_complete", "astream_complete"})
MODEL_METHODS = CHAT_METHODS | COMPLETION_METHODS
EMBEDDING_METHODS = frozenset(
    {
        "get_query_embedding",
        "aget_query_embedding",
        "get_text_embedding",
        "aget_text_embedding",
        "get_text_embedding_batch",
        "aget_text_embedding_batch",
    }
)
KEPT_METHODS: dict[Category, frozenset[str]] = {
    Category.LLM: MODEL_METHODS,
    Category.EMBEDDING: EMBEDDING_METHODS,
    Category.RETRIEVER: frozenset({"retrieve", "aretrieve"}),
    Category.QUERY_ENGINE: frozenset({"query", "aquery"}),
    Category.SYNTHESIZER: frozenset({"synthesize", "asynthesize"}),
    Category.CHAT_ENGINE: CHAT_METHODS,
    Category.TOOL: frozenset({"call", "acall", "__call__"}),
    Category.POSTPROCESSOR: frozenset({"postprocess_nodes", "apostprocess_nodes"}),
    Category.PIPELINE: frozenset({"run", "arun"}),
    Category.AGENT: frozenset({"run"}),
    Category.WORKFLOW: frozenset({"run"}),
}
# Internal helper functions (no instance) LlamaIndex wraps in spans.
INTERNAL_FUNCTIONS = frozenset({"run_jobs", "run_jobs.<locals>.worker"})

# Per class; a plain dict (a weak one costs a Python call per lookup), emptied when it grows past
# _CACHE_SIZE so that classes made on the fly are not kept alive for good.
_cache: dict[type, Category] = {}
_CACHE_SIZE = 4096


def categorize(cls: type) -> Category:
    """The category of instances of ``cls`` (cached per class)."""
    try:
        return _cache[cls]
    except (KeyError, TypeError):  # TypeError: a class whose metaclass makes it unhashable
        pass
    found = Category.USER
    for base in getattr(cls, "__mro__", (cls,)):
        hit = _BASES.get((getattr(base, "__module__", ""), getattr(base, "__qualname__", "")))
        if hit is not None:
            found = hit
            break
    else:
        module = getattr(cls, "__module__", "") or ""
        if module.startswith(("llama_index.", "llama_index_", "workflows.")):
            found = Category.INTERNAL
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    try:
        _cache[cls] = found
    except TypeError:
        pass
    return found


def folded(category: Category | None, method: str) -> bool:
    """True for a span that folds into its parent whatever its arguments: a method of a class that is not kept."""
    if category is None or category is Category.USER or category is Category.STREAM_WRITER:
        return False  # functions, the user's classes and stream writers are decided with their arguments
    return method not in KEPT_METHODS.get(category, ())


# Per (class, span name): the category and whether the span folds. Dispatcher spans repeat the same few
# pairs, so most spans are decided by one lookup; bounded like ``_cache``.
_decisions: dict[tuple[type | None, str], tuple[Category | None, bool]] = {}


def classify(instance: Any, span_id: str) -> tuple[Category | None, str, bool]:
    """A dispatcher span's category (``None`` for a function), name, and whether it folds (:func:`folded`)."""
    # The dispatcher appends "-" and a 36-character UUID to the qualified name (see span_name).
    name = span_id[:-37] if len(span_id) > 37 and span_id[-37] == "-" else span_name(span_id)
    cls = None if instance is None else type(instance)
    try:
        category, folds = _decisions[cls, name]
    except (KeyError, TypeError):  # TypeError: a class whose metaclass makes it unhashable
        category = None if cls is None else categorize(cls)
        folds = folded(category, name.rsplit(".", 1)[-1])
        if len(_decisions) >= _CACHE_SIZE:
            _decisions.clear()
        try:
            _decisions[cls, name] = (category, folds)
        except TypeError:
            pass
    return category, name, folds


def span_name(span_id: str) -> str:
    """``"Class.method"`` from a dispatcher span id (``"Class.method-<uuid4>"``)."""
    # The dispatcher appends "-" and a 36-character UUID to the qualified name.
    if len(span_id) > 37 and span_id[-37] == "-":
        return span_id[:-37]
    return span_id.rsplit("-", 5)[0]
