"""The LlamaIndex integration plugin (entry point ``llamaindex``)."""

from __future__ import annotations

import sys
import threading
from typing import Any, ClassVar

import wrapt

from threadline.emitter import register_context_provider, unregister_context_provider
from threadline.integration import Integration


class LlamaIndexIntegration(Integration):
    """Registers threadline's span and event handlers on LlamaIndex's root dispatcher.

    Installed at once when ``llama_index_instrumentation`` (the dispatcher
    package LlamaIndex and llama-index-workflows share) is imported, else on
    its first import. :meth:`uninstrument` removes exactly the two handlers it
    added, leaving the dispatcher's handler lists as they were.
    """

    name: ClassVar[str] = "llamaindex"
    requires: ClassVar[str] = "llama-index-core>=0.14"
    module: ClassVar[str] = "llama_index_instrumentation"

    def __init__(self) -> None:
        super().__init__()
        self._install_lock = threading.Lock()
        self._wanted = False
        self._hooked = False
        self._dispatcher: Any = None
        self._span_handler: Any = None
        self._event_handler: Any = None
        self.tracker: Any = None

    def _instrument(self, **options: Any) -> None:
        self._wanted = True
        if not self._hooked:  # wrapt runs the hook at once when the module is imported already
            self._hooked = True
            wrapt.register_post_import_hook(lambda module: self._wanted and self._install(), self.module)
        elif self.module in sys.modules:
            self._install()

    def _install(self) -> None:
        from llama_index_instrumentation import get_dispatcher
        from llama_index_instrumentation.dispatcher import active_instrument_tags
        from llama_index_instrumentation.span import active_span_id

        from threadline_llamaindex._handlers import ThreadlineEventHandler, ThreadlineSpanHandler
        from threadline_llamaindex._tracker import Tracker

        with self._install_lock:
            if self._span_handler is not None:
                return
            dispatcher = get_dispatcher()
            tracker = Tracker(active_span_id, active_instrument_tags)
            span_handler = ThreadlineSpanHandler(tracker)
            event_handler = ThreadlineEventHandler(tracker)
            dispatcher.add_span_handler(span_handler)
            dispatcher.add_event_handler(event_handler)
            register_context_provider(tracker.current_handle)
            self._dispatcher, self.tracker = dispatcher, tracker
            self._span_handler, self._event_handler = span_handler, event_handler

    def _uninstrument(self) -> None:
        self._wanted = False
        with self._install_lock:
            dispatcher, tracker = self._dispatcher, self.tracker
            span_handler, event_handler = self._span_handler, self._event_handler
            self._dispatcher = self.tracker = self._span_handler = self._event_handler = None
        if dispatcher is None:
            return
        # In place and by identity: the lists stay the same objects, holding what they held before.
        dispatcher.span_handlers[:] = [h for h in dispatcher.span_handlers if h is not span_handler]
        dispatcher.event_handlers[:] = [h for h in dispatcher.event_handlers if h is not event_handler]
        unregister_context_provider(tracker.current_handle)
        tracker.close()
