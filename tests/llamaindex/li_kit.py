"""LlamaIndex test kit: a scripted function-calling LLM (the only fake: the model boundary).

``ScriptedLLM`` answers like a provider would: a tool call when it is given
tools and has no tool result yet, else a text answer, with the provider's raw
response (usage included) in ``ChatResponse.raw`` in one of several shapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

OPENAI_MODEL = "gpt-4o-mini"
OPENAI_RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"


class ProviderDownError(RuntimeError):
    """The scripted provider failing."""


class ScriptedLLM(FunctionCallingLLM):
    """A function-calling chat model with scripted answers and provider-shaped raw responses.

    ``shape`` picks what ``raw`` looks like: ``openai`` (a chat.completion
    dict), ``openai_object`` (the openai SDK's ``ChatCompletion`` object),
    ``anthropic`` (a Messages API dict), or ``kwargs`` (no raw; usage in
    ``additional_kwargs`` as llama-index-llms-openai copies it).
    """

    model: str = OPENAI_MODEL
    shape: str = "openai"
    answer: str = "The answer is 42."
    tool_kwargs: dict = Field(default_factory=lambda: {"a": 6, "b": 7})
    prompt_tokens: int = 120
    completion_tokens: int = 30
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    fail: bool = False
    fail_mid_stream: bool = False
    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True, is_function_calling_model=True)

    @classmethod
    def class_name(cls) -> str:
        return "ScriptedLLM"

    # -- the scripted provider --------------------------------------------------------------
    def _reply(self, messages: Sequence[ChatMessage], tools: Any) -> ChatMessage:
        self.calls += 1
        if self.fail:
            raise ProviderDownError("provider is down")
        if tools and not any(m.role == MessageRole.TOOL for m in messages):
            name = tools[0].metadata.name
            return ChatMessage(
                role=MessageRole.ASSISTANT,
                blocks=[ToolCallBlock(tool_call_id=f"call_{self.calls}", tool_name=name, tool_kwargs=self.tool_kwargs)],
            )
        return ChatMessage(role=MessageRole.ASSISTANT, content=self.answer)

    def _usage(self) -> dict[str, Any]:
        if self.shape == "anthropic":
            return {
                "input_tokens": self.prompt_tokens,
                "output_tokens": self.completion_tokens,
                "cache_read_input_tokens": self.cached_tokens,
                "cache_creation_input_tokens": self.cache_write_tokens,
            }
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens, "audio_tokens": 0},
        }

    def _raw(self, msg: ChatMessage) -> Any:
        calls = [b for b in msg.blocks if isinstance(b, ToolCallBlock)]
        if self.shape == "anthropic":
            return {
                "id": f"msg_{self.calls}",
                "type": "message",
                "role": "assistant",
                "model": ANTHROPIC_MODEL,
                "stop_reason": "tool_use" if calls else "end_turn",
                "usage": self._usage(),
            }
        body = {
            "id": f"chatcmpl-{self.calls}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": OPENAI_RESPONSE_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": msg.content or None},
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": self._usage(),
        }
        if self.shape == "openai_object":
            from openai.types.chat import ChatCompletion

            return ChatCompletion.model_validate(body)
        return body

    def _response(self, msg: ChatMessage) -> ChatResponse:
        if self.shape == "kwargs":
            tokens = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            }
            return ChatResponse(message=msg, raw=None, additional_kwargs=tokens)
        return ChatResponse(message=msg, raw=self._raw(msg))

    def _chunks(self, msg: ChatMessage) -> Iterator[ChatResponse]:
        """The stream of ``msg`` as the provider sends it: deltas, then the usage."""
        calls = [b for b in msg.blocks if isinstance(b, ToolCallBlock)]
        if self.shape == "anthropic":
            usage = self._usage()
            start = {**usage, "output_tokens": 1}
            yield ChatResponse(
                message=ChatMessage(role=MessageRole.ASSISTANT, content=""),
                delta="",
                raw={
                    "type": "message_start",
                    "message": {"id": "msg_s", "model": ANTHROPIC_MODEL, "role": "assistant", "usage": start},
                },
            )
        text = ""
        if calls:
            yield ChatResponse(message=msg, delta="", raw={"choices": [{"delta": {}, "finish_reason": None}]})
        else:
            words = (msg.content or "").split(" ")
            for i, word in enumerate(words):
                if self.fail_mid_stream and i == 1:
                    raise ProviderDownError("stream broke")
                delta = word if i == 0 else " " + word
                text += delta
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                    delta=delta,
                    raw={"choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]},
                )
        if self.shape == "anthropic":
            yield ChatResponse(
                message=msg,
                delta="",
                raw={
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use" if calls else "end_turn"},
                    "usage": {"output_tokens": self.completion_tokens},
                },
            )
            yield ChatResponse(message=msg, delta="", raw={"type": "message_stop"})
        else:
            yield ChatResponse(
                message=msg,
                delta="",
                raw={"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]},
            )
            yield ChatResponse(
                message=msg,
                delta="",
                raw={
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "model": OPENAI_RESPONSE_MODEL,
                    "choices": [],
                    "usage": self._usage(),
                },
            )

    # -- the LLM interface ----------------------------------------------------------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._response(self._reply(messages, kwargs.get("tools")))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Generator[ChatResponse, None, None]:
        tools = kwargs.get("tools")

        def gen() -> Generator[ChatResponse, None, None]:
            yield from self._chunks(self._reply(messages, tools))

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        await asyncio.sleep(0)
        return self._response(self._reply(messages, kwargs.get("tools")))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> AsyncGenerator[ChatResponse, None]:
        tools = kwargs.get("tools")

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            for chunk in self._chunks(self._reply(messages, tools)):
                await asyncio.sleep(0)
                yield chunk

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        msg = self._reply([ChatMessage(role=MessageRole.USER, content=prompt)], None)
        return CompletionResponse(text=msg.content or "", raw=self._raw(msg))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        def gen() -> Generator[CompletionResponse, None, None]:
            msg = self._reply([ChatMessage(role=MessageRole.USER, content=prompt)], None)
            for chunk in self._chunks(msg):
                yield CompletionResponse(text=chunk.message.content or "", delta=chunk.delta, raw=chunk.raw)

        return gen()

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self.complete(prompt, formatted=formatted, **kwargs)

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            for chunk in self.stream_complete(prompt, formatted=formatted, **kwargs):
                yield chunk

        return gen()

    # -- tools ------------------------------------------------------------------------------------
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: Any = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict:
        messages = list(chat_history or [])
        if user_msg:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        return {"messages": messages, "tools": tools}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = False, **kwargs: Any
    ) -> list[ToolSelection]:
        return [
            ToolSelection(tool_id=b.tool_call_id or "", tool_name=b.tool_name, tool_kwargs=b.tool_kwargs)
            for b in response.message.blocks
            if isinstance(b, ToolCallBlock)
        ]


def openai_cost(prompt: int, completion: int, cached: int = 0) -> float:
    """gpt-4o-mini list price, by hand: $0.15 / $0.60 per million tokens, cached input $0.075."""
    return ((prompt - cached) * 0.15 + cached * 0.075 + completion * 0.60) / 1_000_000
