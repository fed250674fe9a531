"""The span and event handlers threadline registers on LlamaIndex's root dispatcher."""

from __future__ import annotations

from typing import Any

from llama_index_instrumentation.base import BaseEvent
from llama_index_instrumentation.event_handlers import BaseEventHandler
from llama_index_instrumentation.span import BaseSpan
from llama_index_instrumentation.span_handlers import BaseSpanHandler
from pydantic import PrivateAttr

from threadline.guard import failed, guard
from threadline_llamaindex._tracker import Tracker

# open_spans only needs a truthy placeholder per span id (the dispatcher's
# shutdown() walks its keys); one shared instance saves an allocation per span.
_OPEN = BaseSpan(id_="threadline")


def _tracker_of(handler: BaseSpanHandler[Any] | BaseEventHandler) -> Tracker:
    # From pydantic's private storage directly: ``handler._tracker`` runs a
    # ``__getattr__`` in Python on every access (the per-span paths below read it inline).
    return handler.__pydantic_private__["_tracker"]  # type: ignore[index,no-any-return]


class ThreadlineSpanHandler(BaseSpanHandler[BaseSpan]):
    """Opens and closes threadline spans for LlamaIndex dispatcher spans."""

    _tracker: Any = PrivateAttr(default=None)

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(open_spans={}, completed_spans=[], dropped_spans=[], current_span_ids={})
        self._tracker = tracker

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "ThreadlineSpanHandler"

    # The dispatcher calls span_enter / span_exit / span_drop. The base class's versions wrap the new_span /
    # prepare_to_* hooks in a lock and another call per span; these do the work themselves.
    def span_enter(
        self, id_: str, bound_args: Any, instance: Any = None, parent_id: Any = None, tags: Any = None, **kw: Any
    ) -> None:
        """Start a threadline span (or fold this one into its parent)."""
        # try/except rather than ``with guard(...)``: these run for every dispatcher span.
        try:
            if self.__pydantic_private__["_tracker"].enter(id_, bound_args, instance, parent_id, tags):
                self.open_spans[id_] = _OPEN  # one dict store: atomic, no lock needed
        except Exception as exc:
            if failed("llamaindex.span_enter", exc):
                raise

    def span_exit(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kw: Any) -> None:
        """End the span with ``result`` (a returned stream keeps it open until its end event)."""
        self._end(id_, result, dropped=False)

    def span_drop(self, id_: str, bound_args: Any, instance: Any = None, err: Any = None, **kw: Any) -> None:
        """End the span as an error with ``err``."""
        self._end(id_, err, dropped=True)

    def _end(self, id_: str, value: Any, *, dropped: bool) -> None:
        tracker = self.__pydantic_private__["_tracker"]
        try:
            if dropped:
                tracker.drop(id_, value)
            else:
                tracker.exit(id_, value)
        except Exception as exc:
            if failed("llamaindex.span_drop" if dropped else "llamaindex.span_exit", exc):
                raise
        finally:
            self.open_spans.pop(id_, None)

    def new_span(self, id_: str, bound_args: Any, instance: Any = None, parent_span_id: Any = None, **kw: Any) -> Any:
        """The base class's hook, done by :meth:`span_enter` (which the dispatcher calls)."""
        self.span_enter(id_, bound_args, instance, parent_span_id, kw.get("tags"))
        return self.open_spans.get(id_)

    def prepare_to_exit_span(self, id_: str, bound_args: Any, **kw: Any) -> None:
        """The base class's hook, done by :meth:`span_exit` (which the dispatcher calls)."""
        self._end(id_, kw.get("result"), dropped=False)

    def prepare_to_drop_span(self, id_: str, bound_args: Any, **kw: Any) -> None:
        """The base class's hook, done by :meth:`span_drop` (which the dispatcher calls)."""
        self._end(id_, kw.get("err"), dropped=True)

    def capture_propagation_context(self) -> dict[str, Any]:
        """The current threadline span as W3C trace context, under the ``"threadline"`` key."""
        with guard("llamaindex.capture_propagation_context"):
            return _tracker_of(self).capture_propagation()
        return {}

    def restore_propagation_context(self, context: dict[str, Any]) -> None:
        """Parent the next root span of this context under the captured span."""
        with guard("llamaindex.restore_propagation_context"):
            _tracker_of(self).restore_propagation(context)

    def close(self) -> None:
        """End every span still open (called by ``Dispatcher.shutdown()``)."""
        with guard("llamaindex.close"):
            _tracker_of(self).close()


class ThreadlineEventHandler(BaseEventHandler):
    """Feeds LlamaIndex instrumentation events (LLM responses, stream chunks) to open spans."""

    _tracker: Any = PrivateAttr(default=None)

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self._tracker = tracker

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "ThreadlineEventHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Route ``event`` to the span it belongs to."""
        try:
            self.__pydantic_private__["_tracker"].on_event(event)
        except Exception as exc:
            if failed("llamaindex.event", exc):
                raise
