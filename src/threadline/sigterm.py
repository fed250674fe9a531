"""Export pending spans when the process is stopped with SIGTERM.

Python's default action for SIGTERM ends the process at once, without
``atexit`` handlers: every span still queued for export is lost. Containers
and process managers stop applications with SIGTERM on every deploy. When the
application has left SIGTERM to its default action, :func:`install` (called
by :func:`threadline.instrument` on the main thread) sets a handler that
exports what is pending within :data:`TIMEOUT_S` seconds, then ends the
process as the default action would: killed by SIGTERM, so the exit status
is the same (-15 to :mod:`subprocess`, 143 to a shell). A handler the
application set is never replaced. Turned off by
``instrument(flush_on_sigterm=False)`` or ``THREADLINE_FLUSH_ON_SIGTERM=0``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ENV", "TIMEOUT_S", "enabled", "install", "installed", "uninstall"]

ENV = "THREADLINE_FLUSH_ON_SIGTERM"
TIMEOUT_S = 5.0  # well inside the usual grace before SIGKILL (10 s for Docker, 30 s for Kubernetes)

_flush: Callable[[float], Any] | None = None


def enabled(flag: bool | None) -> bool:
    """The ``flush_on_sigterm`` setting: ``flag`` when given, else ``$THREADLINE_FLUSH_ON_SIGTERM`` (on)."""
    if flag is not None:
        return flag
    value = os.environ.get(ENV, "").strip().lower()
    return value not in ("0", "false", "no", "off")


def _on_sigterm(signum: int, frame: Any) -> None:
    # The default action again first: a second SIGTERM during the flush ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        if _flush is not None:
            _flush(TIMEOUT_S)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)


def _can_set() -> bool:
    return hasattr(signal, "SIGTERM") and threading.current_thread() is threading.main_thread()


def install(flush: Callable[[float], Any]) -> bool:
    """Handle SIGTERM with ``flush(timeout)`` then the default action, if SIGTERM has its default action.

    Only on the main thread (Python sets handlers nowhere else). True when
    threadline's handler is the one set.
    """
    global _flush
    if not _can_set():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is not _on_sigterm and current is not signal.SIG_DFL:
        return False  # the application's own handler, or SIG_IGN: never replaced
    _flush = flush
    if current is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def installed() -> bool:
    """True while threadline's SIGTERM handler is set."""
    return hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is _on_sigterm


def uninstall() -> None:
    """Give SIGTERM its default action back, if threadline's handler is still the one set."""
    if _can_set() and installed():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
