"""The base class every integration plugin derives from.

An integration is registered in the entry point group
``threadline.integrations`` (``name = "package.module:IntegrationClass"``).
It declares the distribution it instruments once, in ``requires``; the
loader checks it is installed, and patching waits for the framework's first
import when it is installed but not imported yet.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from threadline import _runtime
from threadline.emitter import Emitter

logger = logging.getLogger("threadline")


def current_emitter() -> Emitter:
    """The emitter integrations hand their records to (configured on first use)."""
    return _runtime.emitter()


class Integration:
    """One framework's instrumentation, with idempotent instrument / uninstrument.

    Subclasses set :attr:`name`, :attr:`requires` (a distribution name and a
    version specifier, e.g. ``"langchain-core>=1.0"``), :attr:`module` (the
    module whose import triggers patching) and implement :meth:`_instrument`
    and :meth:`_uninstrument`.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[str] = ""
    module: ClassVar[str] = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.emitter: Emitter | None = None
        self.is_instrumented = False

    def instrument(self, emitter: Emitter, **options: Any) -> None:
        """Start tracing the framework; a second call only swaps the emitter."""
        with self._lock:
            self.emitter = emitter
            if self.is_instrumented:
                return
            self._instrument(**options)
            self.is_instrumented = True

    def uninstrument(self) -> None:
        """Stop tracing and restore the framework; safe to call when not instrumented."""
        with self._lock:
            if not self.is_instrumented:
                return
            self._uninstrument()
            self.is_instrumented = False

    def _instrument(self, **options: Any) -> None:
        raise NotImplementedError

    def _uninstrument(self) -> None:
        raise NotImplementedError
