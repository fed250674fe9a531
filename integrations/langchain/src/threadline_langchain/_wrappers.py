"""Wrappers that make a model run the current span while the model's code runs.

A chat model's HTTP call (the OpenAI SDK under ``ChatOpenAI``, say) must nest
under the chat model's span, so that another integration's span of the same
call lands in the same trace and the "counted once" rule sees both. Callbacks
cannot do that (they never attach a context), so the model's generation
entry points are wrapped: the wrapper looks the run up by
``run_manager.run_id`` and attaches its span's context around the user's
call, detaching in ``finally`` (per step, for generators).

``stream()`` / ``astream()`` start their run inside the first ``next()``, so
their wrapper uses a :class:`~threadline_langchain._slots.ModelSlot` instead.

:func:`current_run_handle` is registered as a context provider: it names the
LangChain run enclosing the running code, from LangChain's own child config
(``var_child_runnable_config``, the mechanism LangSmith uses too), so that an
SDK call made directly in a tool, a ``RunnableLambda`` or a LangGraph node
nests under that run.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context

from threadline.emitter import SpanHandle
from threadline.guard import failed
from threadline_langchain._registry import REGISTRY
from threadline_langchain._slots import MODEL_SLOT, ModelSlot, adrive, drive

_CONFIG_MODULE = "langchain_core.runnables.config"


def _handle_of(run_manager: Any) -> SpanHandle | None:
    run_id = getattr(run_manager, "run_id", None)
    entry = REGISTRY.get(run_id)
    if entry is None:
        return None
    handle = entry.span_handle
    return handle if handle is not None and not handle.ended else None


def _lookup(run_manager: Any) -> SpanHandle | None:
    """:func:`_handle_of` inside the guard: a failure there must never reach the user's call."""
    try:
        return _handle_of(run_manager)
    except Exception as exc:
        if failed("langchain.model_context", exc):
            raise
    return None


def _run_manager(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``BaseChatModel._generate_with_cache(messages, stop, run_manager, ...)``: its run."""
    return kwargs["run_manager"] if "run_manager" in kwargs else (args[2] if len(args) > 2 else None)


def _single_run_manager(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``BaseLLM._generate_helper(prompts, stop, run_managers, ...)``: the run when there is one."""
    managers = kwargs["run_managers"] if "run_managers" in kwargs else (args[2] if len(args) > 2 else None)
    if isinstance(managers, list) and len(managers) == 1:
        return managers[0]
    return None


# -- invoke / generate ------------------------------------------------------------------------------------


def _in_run(find: Callable[[tuple[Any, ...], dict[str, Any]], Any], *, awaited: bool) -> Any:
    """A wrapper that runs the call with the span of the run ``find(args, kwargs)`` names as current."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        handle = _lookup(find(args, kwargs))
        if handle is None:
            return wrapped(*args, **kwargs)
        if awaited:
            return _awaited_in(handle.context, wrapped(*args, **kwargs))
        token = otel_context.attach(handle.context)
        try:
            return wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return wrapper


async def _awaited_in(context: Any, awaitable: Awaitable[Any]) -> Any:
    token = otel_context.attach(context)
    try:
        return await awaitable
    finally:
        otel_context.detach(token)


generate_wrapper = _in_run(_run_manager, awaited=False)
"""``BaseChatModel._generate_with_cache(messages, stop, run_manager, **kwargs)``."""
agenerate_wrapper = _in_run(_run_manager, awaited=True)
"""``BaseChatModel._agenerate_with_cache``: as :data:`generate_wrapper`, awaited."""
llm_generate_wrapper = _in_run(_single_run_manager, awaited=False)
"""``BaseLLM._generate_helper``: attached when the call has exactly one run."""
allm_generate_wrapper = _in_run(_single_run_manager, awaited=True)
"""``BaseLLM._agenerate_helper``: as :data:`llm_generate_wrapper`, awaited."""


# -- streams ----------------------------------------------------------------------------------------------


def _slot_scope(slot: ModelSlot) -> tuple[Any, Any]:
    def enter() -> Any:
        slot_token = MODEL_SLOT.set(slot)
        entry = slot.entry
        handle = entry.span_handle if entry is not None else None
        ctx_token = otel_context.attach(handle.context) if handle is not None and not handle.ended else None
        return slot_token, ctx_token

    def leave(state: Any) -> None:
        slot_token, ctx_token = state
        if ctx_token is not None:
            otel_context.detach(ctx_token)
        MODEL_SLOT.reset(slot_token)

    return enter, leave


def stream_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseChatModel.stream`` / ``BaseLLM.stream``: the run is known after its first step."""
    gen = wrapped(*args, **kwargs)
    enter, leave = _slot_scope(ModelSlot())
    return drive(gen, enter, leave)


def astream_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseChatModel.astream`` / ``BaseLLM.astream``."""
    agen = wrapped(*args, **kwargs)
    enter, leave = _slot_scope(ModelSlot())
    return adrive(agen, enter, leave)


def _run_scope(run_manager: Any) -> tuple[Any, Any]:
    def enter() -> Any:
        handle = _lookup(run_manager)
        return otel_context.attach(handle.context) if handle is not None else None

    def leave(token: Any) -> None:
        if token is not None:
            otel_context.detach(token)

    return enter, leave


def events_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseChatModel._iter_v2_events(messages, *, run_manager, ...)`` (``stream_events`` v3)."""
    gen = wrapped(*args, **kwargs)
    enter, leave = _run_scope(kwargs.get("run_manager"))
    return drive(gen, enter, leave)


def aevents_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseChatModel._aiter_v2_events``."""
    agen = wrapped(*args, **kwargs)
    enter, leave = _run_scope(kwargs.get("run_manager"))
    return adrive(agen, enter, leave)


# -- the context provider -------------------------------------------------------------------------------


def current_run_handle() -> SpanHandle | None:
    """The span of the LangChain run enclosing the running code, if threadline traces it.

    Two sources, both enclosing the running code: the model run a wrapped
    ``stream()`` drives, and the run whose child config LangChain set for the
    code it runs (a tool body, a ``RunnableLambda``, a LangGraph node). Of the
    two, the one that started last is innermost.
    """
    best: SpanHandle | None = None
    slot = MODEL_SLOT.get()
    if slot is not None and slot.entry is not None:
        handle = slot.entry.span_handle
        if handle is not None and not handle.ended:
            best = handle
    module = sys.modules.get(_CONFIG_MODULE)
    if module is not None:
        config = module.var_child_runnable_config.get()
        if config:
            callbacks = config.get("callbacks")
            entry = REGISTRY.get(getattr(callbacks, "parent_run_id", None))
            if entry is not None:
                handle = entry.span_handle
                if handle is not None and not handle.ended and (best is None or handle.start_ns > best.start_ns):
                    best = handle
    return best
