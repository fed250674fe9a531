"""LangChain chat models faked only at the model boundary (no network).

- :class:`ScriptedChatModel` answers from a script (messages, or a function of
  the conversation), reports usage like ``ChatOpenAI`` does (cached input and
  reasoning details), streams token by token with the usage on the last chunk,
  and binds tools, so that the real ``create_react_agent`` runs on it;
- :class:`FixedAnswerChat` answers "The answer is 42." at once with usage and the
  OpenAI provider in its ls params (the benchmarks' model: as cheap as a model can be);
- :class:`EchoChat` answers ``answer to <last message>`` (tells concurrent calls apart).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"

Reply = AIMessage | str | Callable[[list[BaseMessage]], "AIMessage | str"]


def usage(input_tokens: int, output_tokens: int, *, cache_read: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """``UsageMetadata`` as ``ChatOpenAI`` reports it."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_token_details": {"audio": 0, "cache_read": cache_read},
        "output_token_details": {"audio": 0, "reasoning": reasoning},
    }


class ScriptedChatModel(BaseChatModel):
    """Replies from ``script`` in turn (cycling); each reply reports ``reply_usage``."""

    script: list[Any]
    reply_usage: dict[str, Any] | None = None
    model_name: str = MODEL
    provider: str = "openai"
    fail_with: BaseException | None = None
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {
            "ls_provider": self.provider,
            "ls_model_name": self.model_name,
            "ls_model_type": "chat",
            "ls_temperature": 0.0,
        }

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Accept tools as a real chat model does (the script decides the calls)."""
        return self.bind(tools=[getattr(t, "name", str(t)) for t in tools], **kwargs)

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        if self.fail_with is not None:
            raise self.fail_with
        reply = self.script[self._calls % len(self.script)]
        self._calls += 1
        if callable(reply):
            reply = reply(messages)
        message = AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy()
        if message.usage_metadata is None and self.reply_usage is not None:
            message.usage_metadata = dict(self.reply_usage)  # type: ignore[assignment]
        message.response_metadata = {
            "model_name": RESPONSE_MODEL if self.model_name == MODEL else self.model_name,
            "finish_reason": "tool_calls" if message.tool_calls else "stop",
            "id": "chatcmpl-test",
            "model_provider": self.provider,
            **message.response_metadata,
        }
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        words = str(message.content).split(" ") if message.content else []
        for i, word in enumerate(words):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        last = AIMessageChunk(
            content="",
            tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": n}
                for n, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )
        chunk = ChatGenerationChunk(
            message=last, generation_info={"finish_reason": message.response_metadata["finish_reason"]}
        )
        if run_manager:
            run_manager.on_llm_new_token("", chunk=chunk)
        yield chunk


FIXED_USAGE = {"input_tokens": 42, "output_tokens": 12, "total_tokens": 54}


class FixedAnswerChat(BaseChatModel):
    """Returns a fixed answer with ``usage_metadata`` and the OpenAI provider/model in its ls params."""

    model_name: str = MODEL

    @property
    def _llm_type(self) -> str:
        return "fake-openai-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        message = AIMessage(
            content="The answer is 42.",
            usage_metadata=dict(FIXED_USAGE),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"token_usage": dict(FIXED_USAGE), "model_name": self.model_name},
        )


class EchoChat(FixedAnswerChat):
    """Answers ``answer to <last message>`` with 19 input and 10 output tokens."""

    @property
    def _llm_type(self) -> str:
        return "echo-chat"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        usage = {"input_tokens": 19, "output_tokens": 10, "total_tokens": 29}
        reply = AIMessage(content=f"answer to {messages[-1].content}", usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=reply)])
