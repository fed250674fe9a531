"""What the LangChain and LangGraph integrations share, installed once for both.

* LangChain's ``_configure`` (behind every ``CallbackManager.configure``)
  and LangGraph's ``_configure_graph_callbacks`` (its lifecycle managers) are wrapped to add threadline's handler to
  the manager at the top of each callback-manager tree, once: a manager that
  already holds a :class:`ThreadlineCallbackHandler` (the user passed one, or
  it was inherited) is left as it is. Child managers (``get_child``) inherit
  it with the parent's inheritable handlers; wrapping every manager's
  ``__init__`` instead cost ~1.5 µs on each of the ~15 managers of a
  LangGraph turn.
* The chat model / LLM generation entry points are wrapped (see
  :mod:`._wrappers`), and the LangChain context provider is registered.

Each integration that needs this enables it under its own name with a
handler factory and a priority; the handler added is the one of the highest
priority (LangGraph's handler, a subclass, when both are on). Everything is
taken back when the last one disables it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from threadline.emitter import register_context_provider, unregister_context_provider
from threadline.guard import failed
from threadline.patching import PatchSet
from threadline_langchain import _messages, _wrappers

if TYPE_CHECKING:
    from threadline_langchain._handler import ThreadlineCallbackHandler

HandlerFactory = Callable[[], "ThreadlineCallbackHandler"]

_CHAT = "langchain_core.language_models.chat_models"
_LLMS = "langchain_core.language_models.llms"
_GRAPH_MANAGER_MODULE = "langgraph.callbacks"


class _Owner:
    __slots__ = ("priority", "factory", "handler")

    def __init__(self, priority: int, factory: HandlerFactory) -> None:
        self.priority = priority
        self.factory = factory
        self.handler: ThreadlineCallbackHandler | None = None


class Activation:
    """Reference-counted installation of the injection patch, the model wrappers and the provider."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, _Owner] = {}
        self._top: _Owner | None = None
        self._patches: PatchSet | None = None

    @property
    def active(self) -> bool:
        """True while at least one integration has it enabled."""
        return bool(self._owners)

    def enable(self, owner: str, factory: HandlerFactory, priority: int = 0) -> None:
        """Turn injection on for ``owner`` (idempotent), adding ``factory()``'s handler when it has priority."""
        with self._lock:
            if owner not in self._owners:
                self._owners[owner] = _Owner(priority, factory)
            self._top = max(self._owners.values(), key=lambda o: o.priority)
            if self._patches is None:
                self._patches = _install()

    def disable(self, owner: str) -> None:
        """Turn injection off for ``owner``; uninstall everything when no owner is left.

        The rendered messages kept for reuse (user content) are let go either way.
        """
        with self._lock:
            _messages.forget()
            self._owners.pop(owner, None)
            self._top = max(self._owners.values(), key=lambda o: o.priority) if self._owners else None
            if not self._owners and self._patches is not None:
                self._patches.remove()
                self._patches = None
                unregister_context_provider(_wrappers.current_run_handle)

    def handler(self) -> ThreadlineCallbackHandler | None:
        """The handler to add to new callback managers (created on first use), or ``None``."""
        top = self._top
        if top is None:
            return None
        handler = top.handler
        if handler is None:
            with self._lock:
                if top.handler is None:
                    top.handler = top.factory()
                handler = top.handler
        return handler


def _install() -> PatchSet:
    patches = PatchSet()
    patches.add("langchain_core.callbacks.manager", "_configure", _configure)
    patches.add(_GRAPH_MANAGER_MODULE, "_configure_graph_callbacks", _configure)  # LangGraph's lifecycle managers
    patches.add(_CHAT, "BaseChatModel._generate_with_cache", _wrappers.generate_wrapper)
    patches.add(_CHAT, "BaseChatModel._agenerate_with_cache", _wrappers.agenerate_wrapper)
    patches.add(_CHAT, "BaseChatModel.stream", _wrappers.stream_wrapper)
    patches.add(_CHAT, "BaseChatModel.astream", _wrappers.astream_wrapper)
    patches.add(_CHAT, "BaseChatModel._iter_v2_events", _wrappers.events_wrapper)
    patches.add(_CHAT, "BaseChatModel._aiter_v2_events", _wrappers.aevents_wrapper)
    patches.add(_LLMS, "BaseLLM._generate_helper", _wrappers.llm_generate_wrapper)
    patches.add(_LLMS, "BaseLLM._agenerate_helper", _wrappers.allm_generate_wrapper)
    patches.add(_LLMS, "BaseLLM.stream", _wrappers.stream_wrapper)
    patches.add(_LLMS, "BaseLLM.astream", _wrappers.astream_wrapper)
    register_context_provider(_wrappers.current_run_handle)
    return patches


ACTIVATION = Activation()

_handler_class: Any = None


def _holds_threadline(handlers: list[Any]) -> bool:
    global _handler_class
    if _handler_class is None:
        from threadline_langchain._handler import ThreadlineCallbackHandler

        _handler_class = ThreadlineCallbackHandler
    for handler in handlers:
        if isinstance(handler, _handler_class):
            return True
    return False


def _configure(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``CallbackManager.configure`` (and LangGraph's): add threadline's handler to the new manager."""
    manager = wrapped(*args, **kwargs)
    inject(manager, None)
    return manager


def inject(manager: Any, handler: ThreadlineCallbackHandler | None) -> None:
    """Add ``handler`` (else the active one) to ``manager``'s handlers and inheritable handlers, once.

    A manager that already holds a threadline handler keeps it. LangGraph's
    lifecycle managers (``on_interrupt`` / ``on_resume``) only get a handler
    that takes those events. Never raises (but in tests).
    """
    try:
        if handler is None:
            handler = ACTIVATION.handler()
            if handler is None:
                return
        handlers = manager.handlers or []
        inheritable = manager.inheritable_handlers or []
        if handler in handlers and handler in inheritable:  # the common case: inherited from the parent run
            return
        if type(manager).__module__ == _GRAPH_MANAGER_MODULE and not handler.graph_events:
            return
        if not _holds_threadline(handlers):
            manager.handlers = [*handlers, handler]
        if not _holds_threadline(inheritable):
            manager.inheritable_handlers = [*inheritable, handler]
    except Exception as exc:
        if failed("langchain.inject", exc):
            raise
