"""One small real workload per integration, for the plugin contract tests (``tests/contract``).

Each :class:`Scenario` names the integration's entry point, runs the real
framework with a fake only at the model boundary, and says which framework
modules to watch for patches and which other global state (handler lists,
hook registries) the integration may touch. ``test_contract.py`` runs the
same promises over every scenario whose entry point is registered.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class UserError(Exception):
    """An exception raised by the user's own code inside the traced call."""


@dataclass(frozen=True)
class Scenario:
    """A workload for one integration and what to watch while it runs.

    ``run()`` returns the user's result; ``normalize`` turns it into plain data
    to compare across runs. ``failing(err)`` runs the workload with user code
    raising ``err``; ``make_error()`` builds an ``err`` the framework lets
    through unwrapped. ``modules`` are the module name prefixes scanned for
    patched attributes: ``patched`` when given, else ``requires_modules``.
    ``state()`` snapshots other global state the integration may change (as
    identities, to compare before and after).
    ``framework_error`` optionally runs a workload where the framework itself
    raises (compared by type and text).
    """

    name: str
    requires_modules: tuple[str, ...]
    run: Callable[[], Any]
    failing: Callable[[BaseException], Any]
    normalize: Callable[[Any], Any] = lambda result: result
    make_error: Callable[[], BaseException] = lambda: UserError("raised by the user's code")
    state: Callable[[], dict[str, Any]] = lambda: {}
    framework_error: Callable[[], Any] | None = None
    integrations: tuple[str, ...] = field(default=())
    patched: tuple[str, ...] = ()

    @property
    def modules(self) -> tuple[str, ...]:
        """The module name prefixes scanned for patched attributes (the required modules by default)."""
        return self.patched or self.requires_modules

    @property
    def instrument_names(self) -> list[str]:
        """The integrations to instrument for this scenario (its own by default)."""
        return list(self.integrations or (self.name,))

    def missing_modules(self) -> list[str]:
        """Framework modules this scenario needs that cannot be imported here."""
        out = []
        for module in self.requires_modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                out.append(module)
        return out


def _ids(items: Any) -> tuple[int, ...]:
    return tuple(id(item) for item in items)


# --- LangChain: a RunnableLambda chain around a fake chat model ---------------------------------


def _langchain_chain(step: Callable[[Any], Any] | None = None) -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.runnables import RunnableLambda

    model = GenericFakeChatModel(messages=iter([AIMessage(content="Paris is the capital of France.")]))
    to_messages = RunnableLambda(lambda question: [HumanMessage(content=question)], name="to_messages")
    parse = RunnableLambda(step or (lambda message: message.content.upper()), name="parse")
    return to_messages | model | parse


def _langchain_run() -> Any:
    return _langchain_chain().invoke("What is the capital of France?")


def _langchain_failing(err: BaseException) -> Any:
    def parse(message: Any) -> Any:
        raise err

    return _langchain_chain(parse).invoke("What is the capital of France?")


def _langchain_state() -> dict[str, Any]:
    from langchain_core.tracers import context

    return {"configure_hooks": _ids(getattr(context, "_configure_hooks", ()))}


LANGCHAIN = Scenario(
    name="langchain",
    requires_modules=("langchain_core",),
    run=_langchain_run,
    failing=_langchain_failing,
    state=_langchain_state,
)


# --- LangGraph: a one-node StateGraph with a checkpointer and a thread id (scenarios.langgraph_apps) ---


def _langgraph_run() -> Any:
    from scenarios.langgraph_apps import shout_graph

    return shout_graph().invoke({"text": "hello"}, {"configurable": {"thread_id": "contract-thread-1"}})


def _langgraph_failing(err: BaseException) -> Any:
    from scenarios.langgraph_apps import shout_graph

    def node(state: Any) -> Any:
        raise err

    return shout_graph(node).invoke({"text": "hello"}, {"configurable": {"thread_id": "contract-thread-2"}})


LANGGRAPH = Scenario(
    name="langgraph",
    requires_modules=("langgraph", "langchain_core"),
    run=_langgraph_run,
    failing=_langgraph_failing,
    state=_langchain_state,
)


# --- OpenAI: the real client over a mock HTTP transport (scenarios.openai_api) ---

MESSAGES = [{"role": "user", "content": "Say hello"}]


def _openai_clients(raise_error: BaseException | None = None) -> tuple[Any, Any]:
    from scenarios.openai_api import FakeOpenAI

    return FakeOpenAI(transport_error=raise_error, request_id="req_contract").clients(api_key="sk-test")


def _openai_run() -> Any:
    client, aclient = _openai_clients()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    async def async_part() -> Any:
        result = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        astream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        achunks = [chunk async for chunk in astream]
        await aclient.close()
        return result, achunks

    aresult, achunks = asyncio.run(async_part())
    client.close()
    return {"completion": completion, "chunks": chunks, "async_completion": aresult, "async_chunks": achunks}


def _openai_normalize(result: Any) -> Any:
    return {
        key: [c.model_dump() for c in value] if isinstance(value, list) else value.model_dump()
        for key, value in result.items()
    }


def _openai_failing(err: BaseException) -> Any:
    client, _ = _openai_clients(raise_error=err)
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def _openai_error() -> BaseException:
    import openai

    # The SDK re-raises its own error types from the transport unchanged.
    return openai.OpenAIError("raised by the user's transport")


def _openai_bad_request() -> Any:
    client, _ = _openai_clients()
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=9)


OPENAI = Scenario(
    name="openai",
    requires_modules=("openai", "httpx"),
    patched=("openai",),
    run=_openai_run,
    failing=_openai_failing,
    normalize=_openai_normalize,
    make_error=_openai_error,
    framework_error=_openai_bad_request,
)


# --- LlamaIndex: MockLLM.complete -------------------------------------------------------------------


def _llamaindex_run() -> Any:
    from llama_index.core.llms import MockLLM

    return MockLLM().complete("The quick brown fox")


def _llamaindex_failing(err: BaseException) -> Any:
    from llama_index.core.llms import MockLLM
    from llama_index.core.llms.callbacks import llm_completion_callback

    class FailingLLM(MockLLM):
        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise err

    return FailingLLM().complete("The quick brown fox")


def _llamaindex_state() -> dict[str, Any]:
    from llama_index_instrumentation import get_dispatcher

    dispatcher = get_dispatcher()
    return {"span_handlers": _ids(dispatcher.span_handlers), "event_handlers": _ids(dispatcher.event_handlers)}


LLAMAINDEX = Scenario(
    name="llamaindex",
    requires_modules=("llama_index.core", "llama_index_instrumentation"),
    patched=("llama_index", "llama_index_instrumentation"),
    run=_llamaindex_run,
    failing=_llamaindex_failing,
    normalize=lambda response: (response.text, response.delta),
    state=_llamaindex_state,
)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (LANGCHAIN, LANGGRAPH, OPENAI, LLAMAINDEX)}
