"""The LangGraph integration plugin (entry point ``langgraph``)."""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from typing import Any, ClassVar

import wrapt

from threadline.integration import Integration
from threadline.patching import PatchSet
from threadline_langchain._activation import ACTIVATION
from threadline_langgraph import _wrappers
from threadline_langgraph._options import Options

logger = logging.getLogger("threadline")

OWNER = "langgraph"
PRIORITY = 10  # over the LangChain integration's handler: ours is a subclass that also traces graphs
_MAIN = "langgraph.pregel.main"
_LOOP = "langgraph.pregel._loop"


def _make_handler() -> Any:
    from threadline_langgraph._handler import ThreadlineGraphCallbackHandler

    return ThreadlineGraphCallbackHandler()


class LangGraphIntegration(Integration):
    """Traces LangGraph: graph, node, model and tool spans, thread ids as sessions, interrupts and resumes.

    Builds on the LangChain integration's handler injection (LangGraph reports
    through LangChain callbacks) with a handler that also takes LangGraph's
    lifecycle events, and wraps ``Pregel.stream`` / ``astream`` and the Pregel
    loop's ``tick`` / ``after_tick``. Installed when LangGraph is imported (at
    once if it already is); :meth:`uninstrument` takes it all back.
    """

    name: ClassVar[str] = "langgraph"
    requires: ClassVar[str] = "langgraph>=1.2"
    module: ClassVar[str] = _MAIN

    def __init__(self) -> None:
        super().__init__()
        self._install_lock = threading.Lock()
        self._wanted = False
        self._hooked = False
        self._patches: PatchSet | None = None

    def _instrument(self, node_inputs: str | None = None, **options: Any) -> None:
        """``node_inputs="full"`` records every node's input state (see :class:`._options.Options`)."""
        Options.load(node_inputs)
        self._wanted = True
        if _MAIN in sys.modules:
            self._install()
        elif not self._hooked:
            self._hooked = True
            wrapt.register_post_import_hook(self._on_import, _MAIN)

    def _on_import(self, module: Any) -> None:
        if self._wanted:
            self._install()

    def _install(self) -> None:
        with self._install_lock:
            if self._patches is not None:
                return
            if importlib.util.find_spec("langgraph.callbacks") is None:
                logger.warning(
                    "threadline: this LangGraph has no langgraph.callbacks (threadline-langgraph needs "
                    "langgraph>=1.2); its runs are traced by the LangChain integration only, as chains"
                )
                return
            patches = PatchSet()
            patches.add(_MAIN, "Pregel.stream", _wrappers.stream_wrapper)
            patches.add(_MAIN, "Pregel.astream", _wrappers.astream_wrapper)
            patches.add(_LOOP, "PregelLoop.tick", _wrappers.tick_wrapper)
            patches.add(_LOOP, "PregelLoop.after_tick", _wrappers.after_tick_wrapper)
            self._patches = patches
            ACTIVATION.enable(OWNER, _make_handler, priority=PRIORITY)

    def _uninstrument(self) -> None:
        self._wanted = False
        with self._install_lock:
            patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
            ACTIVATION.disable(OWNER)
