"""Every attribute name threadline emits, in one place.

The emitter writes one vocabulary per concept (the *canonical* names):
OpenTelemetry GenAI scalars (``gen_ai.*``), the general ``session.id`` /
``user.id`` / ``deployment.environment.name``, ``input.value`` /
``output.value`` for content (JSON text) and threadline's own
(``threadline.*``) where no standard name exists.

What each backend needs beyond that is produced at export time by
:mod:`threadline.dialects` (OpenTelemetry GenAI message shapes, OpenInference,
Langfuse): the names below the "dialect-only" marker are never written by the
emitter, so the SQLite store, which is not wrapped, keeps one copy.

No other module may spell an attribute name as a string literal.
"""

from __future__ import annotations

from typing import Final

# --- sessions and users -------------------------------------------------------
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"  # OTel resource / span attribute
SESSION_ID_ORIGINAL: Final = "threadline.session.original_id"
SESSION_SOURCE: Final = "threadline.session.source"
SESSION_ORIGIN: Final = "threadline.session.origin"  # where a framework id was found, e.g. openai.previous_response_id
TAGS: Final = "threadline.tags"
TAG_VALUES: Final = "tag.tags"  # OpenInference
METADATA_PREFIX: Final = "threadline.metadata."
OI_METADATA: Final = "metadata"  # OpenInference: JSON object

# --- GenAI (OpenTelemetry) ----------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated alias, still read by many backends
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_TOTAL_TOKENS: Final = "gen_ai.usage.total_tokens"
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"  # USD
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"  # JSON list, canonical (read by every dialect)
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
ERROR_TYPE: Final = "error.type"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
SERVICE_NAME: Final = "service.name"  # resource
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVER_ADDRESS: Final = "server.address"

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_RETRIEVAL: Final = "retrieval"

# --- OpenInference --------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_INPUT_VALUE: Final = "input.value"
OI_INPUT_MIME_TYPE: Final = "input.mime_type"
OI_OUTPUT_VALUE: Final = "output.value"
OI_OUTPUT_MIME_TYPE: Final = "output.mime_type"
OI_LLM_MODEL_NAME: Final = "llm.model_name"
OI_LLM_PROVIDER: Final = "llm.provider"
OI_LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
OI_LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
OI_LLM_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
OI_LLM_TOKEN_COUNT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_LLM_TOKEN_COUNT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_LLM_TOKEN_COUNT_REASONING: Final = "llm.token_count.completion_details.reasoning"
OI_LLM_TOKEN_COUNT_PROMPT_AUDIO: Final = "llm.token_count.prompt_details.audio"
OI_LLM_TOKEN_COUNT_COMPLETION_AUDIO: Final = "llm.token_count.completion_details.audio"
OI_LLM_COST_TOTAL: Final = "llm.cost.total"
OI_LLM_COST_PROMPT: Final = "llm.cost.prompt"
OI_LLM_COST_COMPLETION: Final = "llm.cost.completion"
OI_TOOL_NAME: Final = "tool.name"
OI_TOOL_DESCRIPTION: Final = "tool.description"
OI_LLM_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"  # JSON object, canonical
OI_LLM_INPUT_MESSAGES: Final = "llm.input_messages"  # prefix: llm.input_messages.<i>.message.*
OI_LLM_OUTPUT_MESSAGES: Final = "llm.output_messages"
OI_LLM_TOOLS: Final = "llm.tools"  # prefix: llm.tools.<i>.tool.json_schema
OI_TOOL_JSON_SCHEMA: Final = "tool.json_schema"
OI_MESSAGE_ROLE: Final = "message.role"
OI_MESSAGE_CONTENT: Final = "message.content"
OI_MESSAGE_NAME: Final = "message.name"
OI_MESSAGE_TOOL_CALLS: Final = "message.tool_calls"
OI_MESSAGE_TOOL_CALL_ID: Final = "message.tool_call_id"
OI_TOOL_CALL_ID: Final = "tool_call.id"
OI_TOOL_CALL_FUNCTION_NAME: Final = "tool_call.function.name"
OI_TOOL_CALL_FUNCTION_ARGUMENTS: Final = "tool_call.function.arguments"
OI_RETRIEVAL_DOCUMENTS: Final = "retrieval.documents"  # prefix: retrieval.documents.<i>.document.*
OI_DOCUMENT_ID: Final = "document.id"
OI_DOCUMENT_CONTENT: Final = "document.content"
OI_DOCUMENT_SCORE: Final = "document.score"
OI_DOCUMENT_METADATA: Final = "document.metadata"
OI_EMBEDDING_EMBEDDINGS: Final = "embedding.embeddings"  # prefix: embedding.embeddings.<i>.embedding.text
OI_EMBEDDING_TEXT: Final = "embedding.text"
OI_EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
OI_RERANKER_INPUT_DOCUMENTS: Final = "reranker.input_documents"
OI_RERANKER_OUTPUT_DOCUMENTS: Final = "reranker.output_documents"
OI_RERANKER_QUERY: Final = "reranker.query"
OI_RERANKER_MODEL_NAME: Final = "reranker.model_name"
OI_RERANKER_TOP_K: Final = "reranker.top_k"
OI_PROJECT_NAME: Final = "openinference.project.name"  # resource
MIME_JSON: Final = "application/json"
MIME_TEXT: Final = "text/plain"
OI_SESSION_ID: Final = SESSION_ID
OI_USER_ID: Final = USER_ID

# openinference.span.kind values
OI_KIND_LLM: Final = "LLM"
OI_KIND_EMBEDDING: Final = "EMBEDDING"
OI_KIND_CHAIN: Final = "CHAIN"
OI_KIND_TOOL: Final = "TOOL"
OI_KIND_RETRIEVER: Final = "RETRIEVER"
OI_KIND_AGENT: Final = "AGENT"
OI_KIND_RERANKER: Final = "RERANKER"
OI_KIND_EVALUATOR: Final = "EVALUATOR"

# --- threadline's own -------------------------------------------------------------
# model | embedding | tool | retrieval | reranker | chain | agent | node | graph | observe | request
SPAN_KIND: Final = "threadline.span.kind"
INTEGRATION: Final = "threadline.integration"
RUN_ID: Final = "threadline.run.id"
OUTCOME: Final = "threadline.outcome"  # ok | error | interrupted | cancelled
END_REASON: Final = "threadline.stream.end_reason"  # completed | closed_early | error | garbage_collected
TIME_TO_FIRST_TOKEN: Final = "threadline.time_to_first_token_ms"
RETRIES: Final = "threadline.retries"
USAGE_COUNTED_IN: Final = "threadline.usage.counted_in_span"
USAGE_CACHE_CREATION_1H: Final = "threadline.usage.cache_creation_1h.input_tokens"  # part of cache_creation
COST_INPUT: Final = "threadline.cost.input"
COST_OUTPUT: Final = "threadline.cost.output"
TRUNCATED: Final = "threadline.truncated"
TURN_ID: Final = "threadline.turn.id"
TRACE_ROOT: Final = "threadline.trace.root"  # bool: the first threadline span of its trace
INTERRUPTED_OUTPUT: Final = "threadline.output.is_interrupt"  # bool: output.value is what the human is asked

# LangGraph / graphs
GRAPH_NODE: Final = "threadline.graph.node"
GRAPH_STEP: Final = "threadline.graph.step"
GRAPH_CHECKPOINT_NS: Final = "threadline.graph.checkpoint_ns"
GRAPH_CHECKPOINT_ID: Final = "threadline.graph.checkpoint_id"
GRAPH_TRIGGERS: Final = "threadline.graph.triggers"
INTERRUPT_IDS: Final = "threadline.interrupt.ids"
INTERRUPT_VALUES: Final = "threadline.interrupt.values"  # JSON, capped
RESUME: Final = "threadline.resume"  # bool: this trace answers interrupts
RESUME_INTERRUPT_IDS: Final = "threadline.resume.interrupt_ids"
RESUME_VALUE: Final = "threadline.resume.value"  # JSON, capped
RESUME_CHECKPOINT_ID: Final = "threadline.resume.checkpoint_id"
RESUME_TRACE_ID: Final = "threadline.resume.trace_id"

# outcome values
OUTCOME_OK: Final = "ok"
OUTCOME_ERROR: Final = "error"
OUTCOME_INTERRUPTED: Final = "interrupted"
OUTCOME_CANCELLED: Final = "cancelled"

# Scores and annotations (threadline.score(), `threadline annotate`, the web form): one span named
# SCORE_SPAN_NAME carrying these attributes, and an EVENT_SCORE event with the same attributes.
SCORE_SPAN_NAME: Final = "threadline.score"
SCORE_NAME: Final = "threadline.score.name"
SCORE_VALUE: Final = "threadline.score.value"  # number, bool or category string, per SCORE_DATA_TYPE
SCORE_DATA_TYPE: Final = "threadline.score.data_type"  # numeric | boolean | categorical
SCORE_COMMENT: Final = "threadline.score.comment"
SCORE_SOURCE: Final = "threadline.score.source"  # code | annotation | eval | ...
SCORE_AUTHOR: Final = "threadline.score.author"
SCORE_TARGET_KIND: Final = "threadline.score.target.kind"  # trace | session
SCORE_TARGET_ID: Final = "threadline.score.target.id"  # 32 hex digits for a trace, the session id for a session

# score data types and target kinds
SCORE_NUMERIC: Final = "numeric"
SCORE_BOOLEAN: Final = "boolean"
SCORE_CATEGORICAL: Final = "categorical"
TARGET_TRACE: Final = "trace"
TARGET_SESSION: Final = "session"

# span events
EVENT_SCORE: Final = "threadline.score"
EVENT_INTERRUPT: Final = "threadline.interrupt"
EVENT_RESUME: Final = "threadline.resume"
EVENT_EXCEPTION: Final = "exception"

# --- Langfuse (OTLP ingestion) ----------------------------------------------------
LANGFUSE_TRACE_NAME: Final = "langfuse.trace.name"
LANGFUSE_TRACE_INPUT: Final = "langfuse.trace.input"
LANGFUSE_TRACE_OUTPUT: Final = "langfuse.trace.output"
LANGFUSE_TRACE_TAGS: Final = "langfuse.trace.tags"
LANGFUSE_TRACE_METADATA_PREFIX: Final = "langfuse.trace.metadata."
LANGFUSE_ENVIRONMENT: Final = "langfuse.environment"
LANGFUSE_OBSERVATION_TYPE: Final = "langfuse.observation.type"
LANGFUSE_MODEL_PARAMETERS: Final = "langfuse.observation.model.parameters"

# Baggage keys (W3C baggage, opt-in with instrument(propagate_session=True)).
BAGGAGE_SESSION_ID: Final = SESSION_ID
BAGGAGE_USER_ID: Final = USER_ID

# --- dialect-only ---------------------------------------------------------------
# Names that repeat another name's value for another vocabulary: mirror -> the
# names whose value it copies, first present wins. The emitter never writes
# them; the dialect exporter (threadline.dialects) copies them on the way out.
# An exporter that keeps one copy (the SQLite store) may drop a mirror whose
# value equals one of its sources.
OPENINFERENCE_COPIES: Final[dict[str, tuple[str, ...]]] = {
    OI_LLM_PROVIDER: (GEN_AI_PROVIDER_NAME,),
    OI_LLM_MODEL_NAME: (GEN_AI_RESPONSE_MODEL, GEN_AI_REQUEST_MODEL),
    OI_TOOL_NAME: (GEN_AI_TOOL_NAME,),
    OI_LLM_TOKEN_COUNT_PROMPT: (GEN_AI_USAGE_INPUT_TOKENS,),
    OI_LLM_TOKEN_COUNT_COMPLETION: (GEN_AI_USAGE_OUTPUT_TOKENS,),
    OI_LLM_TOKEN_COUNT_TOTAL: (GEN_AI_USAGE_TOTAL_TOKENS,),
    OI_LLM_TOKEN_COUNT_CACHE_READ: (GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,),
    OI_LLM_TOKEN_COUNT_CACHE_WRITE: (GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,),
    OI_LLM_TOKEN_COUNT_REASONING: (GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,),
    OI_LLM_COST_TOTAL: (GEN_AI_USAGE_COST,),
    OI_LLM_COST_PROMPT: (COST_INPUT,),
    OI_LLM_COST_COMPLETION: (COST_OUTPUT,),
    OI_TOOL_DESCRIPTION: (GEN_AI_TOOL_DESCRIPTION,),
}
GENAI_COPIES: Final[dict[str, tuple[str, ...]]] = {
    GEN_AI_CONVERSATION_ID: (SESSION_ID,),
    GEN_AI_TOOL_CALL_ARGUMENTS: (OI_INPUT_VALUE,),
    GEN_AI_TOOL_CALL_RESULT: (OI_OUTPUT_VALUE,),
}
MIRRORS: Final[dict[str, tuple[str, ...]]] = {**GENAI_COPIES, **OPENINFERENCE_COPIES}

# Names and name prefixes only the dialect exporter produces (derived, not
# copied): the store never receives them from threadline's own pipeline.
DIALECT_ONLY: Final = frozenset(
    {
        GEN_AI_INPUT_MESSAGES,
        GEN_AI_OUTPUT_MESSAGES,
        GEN_AI_SYSTEM_INSTRUCTIONS,
        GEN_AI_SYSTEM,
        OI_SPAN_KIND,
        OI_METADATA,
        OI_INPUT_MIME_TYPE,
        OI_OUTPUT_MIME_TYPE,
        OI_EMBEDDING_MODEL_NAME,
        OI_RERANKER_QUERY,
        OI_RERANKER_MODEL_NAME,
        OI_RERANKER_TOP_K,
        LANGFUSE_TRACE_NAME,
        LANGFUSE_TRACE_INPUT,
        LANGFUSE_TRACE_OUTPUT,
        LANGFUSE_TRACE_TAGS,
        LANGFUSE_ENVIRONMENT,
        LANGFUSE_OBSERVATION_TYPE,
        LANGFUSE_MODEL_PARAMETERS,
        *MIRRORS,
    }
)
DIALECT_ONLY_PREFIXES: Final = (
    OI_LLM_INPUT_MESSAGES + ".",
    OI_LLM_OUTPUT_MESSAGES + ".",
    OI_LLM_TOOLS + ".",
    OI_RETRIEVAL_DOCUMENTS + ".",
    OI_EMBEDDING_EMBEDDINGS + ".",
    OI_RERANKER_INPUT_DOCUMENTS + ".",
    OI_RERANKER_OUTPUT_DOCUMENTS + ".",
    LANGFUSE_TRACE_METADATA_PREFIX,
)
