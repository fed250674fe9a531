"""Every attribute name threadline emits, in one place.

Three vocabularies are written side by side so that any backend reads
sessions, tokens and cost over OTLP:

* OpenTelemetry GenAI semantic conventions (``gen_ai.*``), plus the general
  ``session.id`` / ``user.id``;
* OpenInference (``openinference.span.kind``, ``llm.token_count.*``,
  ``llm.cost.*``, ``input.value`` / ``output.value``), read by Phoenix;
* threadline's own (``threadline.*``) where no standard name exists.

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
ERROR_TYPE: Final = "error.type"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
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

# --- threadline's own -------------------------------------------------------------
SPAN_KIND: Final = "threadline.span.kind"  # model | tool | retrieval | chain | agent | node | graph | observe
INTEGRATION: Final = "threadline.integration"
RUN_ID: Final = "threadline.run.id"
OUTCOME: Final = "threadline.outcome"  # ok | error | interrupted | cancelled
END_REASON: Final = "threadline.stream.end_reason"  # completed | closed_early | error | garbage_collected
TIME_TO_FIRST_TOKEN: Final = "threadline.time_to_first_token_ms"
STREAMED: Final = "threadline.streamed"
RETRIES: Final = "threadline.retries"
USAGE_COUNTED_IN: Final = "threadline.usage.counted_in_span"
USAGE_CACHE_CREATION_1H: Final = "threadline.usage.cache_creation_1h.input_tokens"  # part of cache_creation
COST_INPUT: Final = "threadline.cost.input"
COST_OUTPUT: Final = "threadline.cost.output"
TRUNCATED: Final = "threadline.truncated"
TURN_ID: Final = "threadline.turn.id"

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

# span events
EVENT_INTERRUPT: Final = "threadline.interrupt"
EVENT_RESUME: Final = "threadline.resume"
EVENT_FIRST_TOKEN: Final = "gen_ai.first_token"
EVENT_EXCEPTION: Final = "exception"

# --- mirrors ----------------------------------------------------------------------
# Names that repeat another name's value for another vocabulary: mirror -> the
# names whose value it copies. Exporters that keep one copy (the SQLite store)
# drop a mirror whose value equals one of these; a value set on its own is kept.
MIRRORS: Final[dict[str, tuple[str, ...]]] = {
    GEN_AI_CONVERSATION_ID: (SESSION_ID,),
    GEN_AI_INPUT_MESSAGES: (OI_INPUT_VALUE,),
    GEN_AI_OUTPUT_MESSAGES: (OI_OUTPUT_VALUE,),
    GEN_AI_TOOL_CALL_ARGUMENTS: (OI_INPUT_VALUE,),
    GEN_AI_TOOL_CALL_RESULT: (OI_OUTPUT_VALUE,),
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
}
