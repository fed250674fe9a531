"""Read requests and results of the modelled endpoints into a :class:`ModelCall`.

Results come as the SDK's pydantic objects or, for raw responses read from
the body, as plain dicts; every reader here accepts both. Streams are folded
chunk by chunk by the accumulators at the end of the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from threadline import semconv as sc
from threadline.records import ModelCall, Outcome, invocation_parameters, tool_definitions
from threadline.usage import usage_from_openai
from threadline.usage import value_of as get  # obj[key] or obj.key; fields of SDK pydantic models

CHAT = "chat"
RESPONSES = "responses"
EMBEDDINGS = "embeddings"
COMPLETIONS = "completions"

ROUTES: dict[str, str] = {
    "/chat/completions": CHAT,
    "/responses": RESPONSES,
    "/embeddings": EMBEDDINGS,
    "/completions": COMPLETIONS,
}
OPERATIONS: dict[str, str] = {
    CHAT: sc.OP_CHAT,
    RESPONSES: sc.OP_CHAT,
    EMBEDDINGS: sc.OP_EMBEDDINGS,
    COMPLETIONS: sc.OP_TEXT_COMPLETION,
}
NAMES: dict[str, str] = {
    CHAT: "openai.chat.completions",
    RESPONSES: "openai.responses",
    EMBEDDINGS: "openai.embeddings",
    COMPLETIONS: "openai.completions",
}


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class _Reader:
    """``get(key)`` of an object that is neither a dict nor an SDK model: :func:`get` key by key."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, key: str) -> Any:
        return get(self.obj, key)


def fields(obj: Any) -> Any:
    """What :func:`get` reads from ``obj``, as one object with ``.get(key)``: one look-up per object, not per key.

    A dict as it is; an SDK (pydantic) model's field values (its ``__dict__``),
    with its extra keys when it has any; an empty mapping for ``None``.
    """
    if type(obj) is dict:
        return obj
    if obj is None:
        return _NOTHING
    try:  # attribute reads, not getattr() calls: this runs for every result, choice and stream chunk
        extra = obj.__pydantic_extra__
        values = obj.__dict__
    except AttributeError:
        values = extra = None
    if type(values) is dict:
        if not extra:
            return values
        if type(extra) is dict:
            return {**extra, **values}
    return obj if isinstance(obj, Mapping) else _Reader(obj)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- requests -------------------------------------------------------------------------
# Request fields that are no setting of the call: its content, tools (recorded apart), model and stream.
_NOT_PARAMETERS = frozenset(
    {
        "messages",
        "input",
        "prompt",
        "instructions",
        "tools",
        "functions",
        "model",
        "stream",
        "stream_options",
        "metadata",
        "user",
    }
)


def fill_request(record: ModelCall, route: str, body: Mapping[str, Any], capture: bool) -> None:
    """Model, sampling settings and (when content is captured) the input of a request."""
    model = body.get("model")
    if isinstance(model, str):
        record.request_model = model
    record.temperature = _number(body.get("temperature"))
    if route == RESPONSES:
        record.max_tokens = _int(body.get("max_output_tokens"))
    else:
        max_tokens = body.get("max_completion_tokens")
        record.max_tokens = _int(max_tokens if max_tokens is not None else body.get("max_tokens"))
    record.invocation_parameters = invocation_parameters(body, _NOT_PARAMETERS)
    if not capture:
        return
    record.tools = tool_definitions(body.get("tools") or body.get("functions"))
    if route == CHAT:
        record.inputs = body.get("messages")
    elif route == RESPONSES:
        record.inputs = responses_input(body)
    elif route == EMBEDDINGS:
        record.inputs = body.get("input")
    else:
        record.inputs = body.get("prompt")


def responses_input(body: Mapping[str, Any]) -> Any:
    """The Responses ``instructions`` and ``input`` as a message list."""
    messages: list[Any] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, (list, tuple)):
        messages.extend(given)
    elif given is not None:
        messages.append(given)
    return messages or None


# --- results --------------------------------------------------------------------------
def fill_result(record: ModelCall, route: str, result: Any, capture: bool) -> None:
    """Everything a complete (non-streamed) result tells: ids, model, output, usage."""
    if route == RESPONSES:
        fill_response(record, result, capture)
        return
    values = fields(result)
    record.response_id = values.get("id") or record.response_id
    record.response_model = values.get("model") or record.response_model
    set_usage(record, values.get("usage"))
    if route == EMBEDDINGS:
        dims = _embedding_dims(values)
        if dims:
            record.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
        return
    choices = [fields(c) for c in values.get("choices") or ()]
    reasons = [r for r in (c.get("finish_reason") for c in choices) if r]
    if reasons:
        record.finish_reasons = reasons
    if capture:
        if route == CHAT:
            record.outputs = [chat_message(c.get("message")) for c in choices]
        else:
            record.outputs = [c.get("text") for c in choices]


def chat_message(message: Any) -> dict[str, Any]:
    """A light dict of one chat output message (role, content, refusal, tool calls)."""
    values = fields(message)
    out: dict[str, Any] = {"role": values.get("role") or "assistant"}
    content = values.get("content")
    if content is not None:
        out["content"] = content
    refusal = values.get("refusal")
    if refusal:
        out["refusal"] = refusal
    calls = values.get("tool_calls")
    if calls:
        out["tool_calls"] = [
            {
                "id": get(call, "id"),
                "type": get(call, "type") or "function",
                "function": {
                    "name": get(get(call, "function"), "name"),
                    "arguments": get(get(call, "function"), "arguments"),
                },
            }
            for call in calls
        ]
    audio = values.get("audio")
    if audio is not None and get(audio, "transcript"):
        out["audio"] = {"transcript": get(audio, "transcript")}
    return out


def fill_response(record: ModelCall, response: Any, capture: bool) -> None:
    """A Responses API ``response`` object: id, model, status, output items, usage."""
    record.response_id = get(response, "id") or record.response_id
    record.response_model = get(response, "model") or record.response_model
    output = get(response, "output") or ()
    status = get(response, "status")
    if status == "completed":
        calls = any(get(item, "type") == "function_call" for item in output)
        record.finish_reasons = ["tool_calls" if calls else "stop"]
    elif status == "incomplete":
        record.finish_reasons = [get(get(response, "incomplete_details"), "reason") or "incomplete"]
    elif status == "failed":
        record.finish_reasons = ["error"]
        error = get(response, "error")
        record.outcome = Outcome.ERROR
        record.attributes[sc.ERROR_TYPE] = str(get(error, "code") or "response_failed")
    elif isinstance(status, str):
        record.finish_reasons = [status]
    set_usage(record, get(response, "usage"))
    if capture and output:
        record.outputs = [item for item in (response_item(i) for i in output) if item is not None]


def response_item(item: Any) -> dict[str, Any] | None:
    """A light dict of one Responses output item."""
    kind = get(item, "type")
    if kind == "message":
        parts = []
        for part in get(item, "content") or ():
            part_type = get(part, "type")
            if part_type == "output_text":
                parts.append(get(part, "text") or "")
            elif part_type == "refusal":
                parts.append(get(part, "refusal") or "")
        return {"role": get(item, "role") or "assistant", "content": "".join(parts)}
    if kind == "function_call":
        return {
            "type": kind,
            "call_id": get(item, "call_id"),
            "name": get(item, "name"),
            "arguments": get(item, "arguments"),
        }
    if kind == "reasoning":
        summary = [get(s, "text") for s in get(item, "summary") or ()]
        return {"type": kind, "summary": summary} if summary else None
    return {"type": kind} if kind else None


def set_usage(record: ModelCall, raw: Any) -> None:
    """Normalised usage on the record, and audio token counts as extra attributes."""
    if raw is None:
        return
    usage = usage_from_openai(raw)
    if usage is None:
        return
    record.usage = usage
    values = fields(raw)
    for key, name in _AUDIO_TOKENS:
        details = values.get(key)
        if details is not None:
            audio = _int(get(details, "audio_tokens"))
            if audio:
                record.attributes[name] = audio


# Audio token counts, by the usage field that holds them: OpenInference attributes of their own.
_AUDIO_TOKENS = (
    ("prompt_tokens_details", sc.OI_LLM_TOKEN_COUNT_PROMPT_AUDIO),
    ("completion_tokens_details", sc.OI_LLM_TOKEN_COUNT_COMPLETION_AUDIO),
)


def _embedding_dims(values: Any) -> int | None:
    """The vectors' dimension of an embeddings result, from its :func:`fields`."""
    data = values.get("data")
    if not data:
        return None
    vector = get(data[0], "embedding")
    if isinstance(vector, (list, tuple)):
        return len(vector) or None
    if isinstance(vector, str) and vector:  # base64 float32, before the SDK decodes it
        padding = 2 if vector.endswith("==") else 1 if vector.endswith("=") else 0
        return ((len(vector) * 3) // 4 - padding) // 4 or None
    return None


# --- streams --------------------------------------------------------------------------
class ChatAccumulator:
    """Folds ``chat.completion.chunk`` (and legacy completion) chunks into a result.

    ``feed`` returns True for the first chunk that carries output (time to
    first token). Text is only kept when content is captured.
    """

    __slots__ = ("route", "capture", "started", "texts", "tools", "roles", "reasons", "usage", "id", "model")

    def __init__(self, route: str, capture: bool) -> None:
        self.route = route
        self.capture = capture
        self.started = False
        self.texts: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}
        self.roles: dict[int, str] = {}
        self.reasons: dict[int, str] = {}
        self.usage: Any = None
        self.id: str | None = None
        self.model: str | None = None

    def feed(self, chunk: Any) -> bool:
        values = fields(chunk)
        if self.id is None:
            self.id = values.get("id")
            self.model = values.get("model")
        usage = values.get("usage")
        if usage is not None:
            self.usage = usage
        first = False
        for item in values.get("choices") or ():
            choice = fields(item)
            index = choice.get("index") or 0
            reason = choice.get("finish_reason")
            if reason:
                self.reasons[index] = reason
            if self.route == COMPLETIONS:
                text = choice.get("text")
                calls = None
            else:
                delta = choice.get("delta")
                if delta is None:
                    continue
                delta = fields(delta)
                text = delta.get("content")
                calls = delta.get("tool_calls")
                role = delta.get("role")
                if role:
                    self.roles[index] = role
                if not text and not calls:
                    refusal = delta.get("refusal")
                    if refusal:
                        text = refusal
            if text or calls:
                if not self.started:
                    self.started = first = True
                if self.capture:
                    if text:
                        self.texts.setdefault(index, []).append(text)
                    if calls:
                        self._tool_deltas(index, calls)
        return first

    def _tool_deltas(self, index: int, calls: Any) -> None:
        slots = self.tools.setdefault(index, {})
        for call in calls:
            slot = slots.setdefault(get(call, "index") or 0, {"id": None, "name": "", "arguments": ""})
            if get(call, "id"):
                slot["id"] = get(call, "id")
            function = get(call, "function")
            if function is not None:
                slot["name"] += get(function, "name") or ""
                slot["arguments"] += get(function, "arguments") or ""

    def finish(self, record: ModelCall) -> None:
        """Write what the stream told into the record."""
        record.response_id = self.id or record.response_id
        record.response_model = self.model or record.response_model
        if self.reasons:
            record.finish_reasons = [self.reasons[i] for i in sorted(self.reasons)]
        set_usage(record, self.usage)
        if not self.capture:
            return
        indexes = sorted(set(self.texts) | set(self.tools) | set(self.reasons))
        if not indexes:
            return
        if self.route == COMPLETIONS:
            record.outputs = ["".join(self.texts.get(i, ())) for i in indexes]
            return
        outputs = []
        for i in indexes:
            message: dict[str, Any] = {"role": self.roles.get(i, "assistant")}
            if i in self.texts:
                message["content"] = "".join(self.texts[i])
            if i in self.tools:
                message["tool_calls"] = [
                    {"id": t["id"], "type": "function", "function": {"name": t["name"], "arguments": t["arguments"]}}
                    for _, t in sorted(self.tools[i].items())
                ]
            outputs.append(message)
        record.outputs = outputs


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_START_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})


class ResponsesAccumulator:
    """Folds Responses API stream events; the final ``response.*`` event carries everything."""

    __slots__ = ("capture", "started", "final", "id", "model", "error")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.started = False
        self.final: Any = None
        self.id: str | None = None
        self.model: str | None = None
        self.error: Any = None

    def feed(self, event: Any) -> bool:
        kind = get(event, "type")
        if not isinstance(kind, str):
            return False
        if kind.endswith(".delta"):
            if not self.started:
                self.started = True
                return True
            return False
        if kind in _FINAL_EVENTS:
            self.final = get(event, "response")
        elif kind in _START_EVENTS:
            response = get(event, "response")
            self.id = get(response, "id") or self.id
            self.model = get(response, "model") or self.model
        elif kind == "error":
            self.error = event
        return False

    def finish(self, record: ModelCall) -> None:
        """Write what the stream told into the record."""
        record.response_id = self.id or record.response_id
        record.response_model = self.model or record.response_model
        if self.final is not None:
            fill_response(record, self.final, self.capture)
        if self.error is not None:
            record.outcome = Outcome.ERROR
            record.attributes[sc.ERROR_TYPE] = str(get(self.error, "code") or "error")


def accumulator(route: str, capture: bool) -> ChatAccumulator | ResponsesAccumulator | None:
    """The accumulator for a streamed route (``None`` for routes that do not stream)."""
    if route == RESPONSES:
        return ResponsesAccumulator(capture)
    if route in (CHAT, COMPLETIONS):
        return ChatAccumulator(route, capture)
    return None
