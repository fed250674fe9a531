"""threadline for LangChain: chains, chat models, LLMs, tools, retrievers and agents.

>>> import threadline
>>> threadline.instrument()              # or instrument(integrations=["langchain"])
>>> chain.invoke("hi", config={"metadata": {"session_id": "chat-42", "user_id": "u-1"}})

Every LangChain callback manager gets a :class:`ThreadlineCallbackHandler`
(LangChain's ``_configure``, behind every ``CallbackManager.configure``, is
wrapped; a manager that already holds one is left alone; child managers
inherit it), so no ``callbacks=`` are needed. The handler also works alone, without :func:`threadline.instrument`::

    chain.invoke("hi", config={"callbacks": [ThreadlineCallbackHandler()]})

Spans: chains and runnables (``chain``), ``AgentExecutor`` (``agent``), chat
models and LLMs (``model``: messages, model and provider from LangChain's
``ls_*`` parameters and the response metadata, token usage from
``AIMessage.usage_metadata`` or ``llm_output["token_usage"]`` with cache and
reasoning details, cost, time to first token when streamed), tools
(``tool``) and retrievers (``retrieval``). Runs tagged ``langsmith:hidden``
are folded into their parent.

Sessions, first that applies (one per trace, decided at its root):

1. an explicit ``threadline.session(...)`` scope;
2. the run metadata: ``session_id``, ``thread_id``, ``conversation_id`` (the
   order is ``instrument(session_keys=...)``), and ``user_id`` for the user.

When the OpenAI integration is on too, the OpenAI SDK call a ``ChatOpenAI``
makes nests under the chat model span, and its tokens and cost are counted
once (on the innermost span that reports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline_langchain._integration import LangChainIntegration

if TYPE_CHECKING:
    from threadline_langchain._handler import ThreadlineCallbackHandler

__all__ = ["LangChainIntegration", "ThreadlineCallbackHandler", "open_runs"]


def open_runs() -> int:
    """How many LangChain runs threadline is tracking right now (0 once everything ended)."""
    from threadline_langchain._registry import REGISTRY

    return len(REGISTRY)


def __getattr__(name: str) -> Any:
    # The handler subclasses LangChain's BaseCallbackHandler: import LangChain only when it is asked for.
    if name == "ThreadlineCallbackHandler":
        from threadline_langchain._handler import ThreadlineCallbackHandler

        return ThreadlineCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
