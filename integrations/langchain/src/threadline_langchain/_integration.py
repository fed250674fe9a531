"""The LangChain integration plugin (entry point ``langchain``)."""

from __future__ import annotations

from typing import Any, ClassVar

from threadline.integration import Integration
from threadline_langchain._activation import ACTIVATION

OWNER = "langchain"


def _make_handler() -> Any:
    from threadline_langchain._handler import ThreadlineCallbackHandler

    return ThreadlineCallbackHandler()


class LangChainIntegration(Integration):
    """Traces LangChain by adding a :class:`ThreadlineCallbackHandler` to every callback manager.

    LangChain's ``callbacks.manager._configure`` is wrapped (on LangChain's first import if
    it is not imported yet), and so are the chat model and LLM generation
    entry points, so that a provider SDK call made by a model nests under the
    model's span. :meth:`uninstrument` restores all of them.
    """

    name: ClassVar[str] = "langchain"
    requires: ClassVar[str] = "langchain-core>=1.0"
    module: ClassVar[str] = "langchain_core"

    def _instrument(self, **options: Any) -> None:
        ACTIVATION.enable(OWNER, _make_handler, priority=0)

    def _uninstrument(self) -> None:
        ACTIVATION.disable(OWNER)
