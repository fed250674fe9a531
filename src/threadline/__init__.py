"""threadline: one-line tracing for LLM applications, with sessions and cost.

>>> import threadline
>>> threadline.instrument()          # every installed integration, SQLite store
>>> with threadline.session("chat-42", user_id="u-1"):
...     graph.invoke(...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from threadline import _runtime, plugins, sigterm
from threadline.cost import ModelRate
from threadline.integration import Integration
from threadline.observe import observe
from threadline.records import SpanKind
from threadline.sessions import SessionInfo, current_session, session
from threadline.usage import Usage

__all__ = [
    "Instrumentation",
    "Integration",
    "ModelRate",
    "SessionInfo",
    "SpanKind",
    "Usage",
    "current_session",
    "flush",
    "instrument",
    "observe",
    "session",
    "shutdown",
    "uninstrument",
]

logger = logging.getLogger("threadline")


class Instrumentation:
    """What :func:`instrument` did; :meth:`undo` (or ``with``) takes it back."""

    def __init__(self, integrations: Sequence[str]) -> None:
        self.integrations = tuple(integrations)

    def undo(self) -> None:
        """Uninstrument the integrations this call instrumented."""
        uninstrument(self.integrations)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"Instrumentation(integrations={list(self.integrations)!r})"


def instrument(
    exporter: Any = None,
    *,
    integrations: Iterable[str] | None = None,
    tracer_provider: Any = None,
    capture_content: bool = True,
    redact: Callable[[Any], Any] | None = None,
    session_id_from: Callable[[str], str] | None = None,
    prices: Mapping[str, ModelRate | Mapping[str, float]] | None = None,
    session_keys: Sequence[str] | None = None,
    max_content_chars: int | None = None,
    retention: str | float | timedelta | None = None,
    capture_exception_text: bool | None = None,
    flush_on_sigterm: bool | None = None,
) -> Instrumentation:
    """Trace every installed integration (or those named) with one call.

    Args:
        exporter: any OpenTelemetry ``SpanExporter``, or a list of them; by
            default the embedded SQLite store (``.threadline/traces.db``, or
            ``$THREADLINE_DB``).
        integrations: names to instrument (``["langgraph", "openai"]``); all
            installed ones by default. An unknown name raises ``ValueError``.
        tracer_provider: an OpenTelemetry SDK ``TracerProvider`` to use instead
            of threadline's own (threadline never touches the global one).
        capture_content: record prompts, completions, tool arguments and
            results; ``False`` keeps only structure, tokens and cost.
        redact: called with every captured value before it is recorded;
            return the value to keep (or ``None`` to drop it).
        session_id_from: maps every raw framework session id (e.g. to add a
            tenant prefix).
        prices: per-model price overrides in USD per million tokens.
        session_keys: the order in which framework ids are tried for the
            session (default ``session_id``, ``thread_id``, ``conversation_id``).
        max_content_chars: cap on each captured value (longer ones are cut
            with a marker).
        retention: for the default store, how long to keep sessions
            (``"30d"``, ``"12h"``, a ``timedelta``); older ones are pruned in the
            background. Default ``$THREADLINE_RETENTION``, else keep everything.
        capture_exception_text: record exception messages and stack traces
            (they often quote prompts, completions and tool arguments). By
            default they follow ``capture_content``: off, an error keeps its
            type and a fixed note. Captured, they go through ``redact`` and
            have API-key and bearer-token shaped strings masked.
        flush_on_sigterm: when SIGTERM has its default action, export pending
            spans on SIGTERM (within 5 s) before the process ends as it would
            have; never replaces a handler the application set. Default on,
            or ``$THREADLINE_FLUSH_ON_SIGTERM`` (``0`` turns it off).

    Calling it again is safe: integrations are patched once, and the new
    settings and exporter take effect.
    """
    selected = plugins.load(integrations)
    current = _runtime.settings()
    settings = _runtime.Settings(
        capture_content=capture_content,
        redact=redact,
        max_content_chars=max_content_chars or current.max_content_chars,
        session_keys=tuple(session_keys) if session_keys else current.session_keys,
        user_keys=current.user_keys,
        session_id_from=session_id_from,
        prices=prices,
        retention=retention,
        capture_exception_text=capture_exception_text,
    )
    emitter = _runtime.configure(exporter, tracer_provider=tracer_provider, settings=settings)
    if sigterm.enabled(flush_on_sigterm):
        sigterm.install(_runtime.at_exit)
    else:
        sigterm.uninstall()
    done: list[str] = []
    for integration in selected:
        existing = _runtime.state.integrations.get(integration.name)
        target = existing if existing is not None else integration
        try:
            target.instrument(emitter)
        except Exception:  # noqa: BLE001 - one integration failing never stops the others
            logger.warning("threadline: could not instrument %s; skipped", integration.name, exc_info=True)
            continue
        _runtime.state.integrations[integration.name] = target
        done.append(integration.name)
    return Instrumentation(done)


def uninstrument(integrations: Iterable[str] | None = None) -> None:
    """Stop tracing the named integrations (all by default) and restore them.

    With all of them, SIGTERM gets its default action back (if threadline had set its handler).
    """
    if integrations is None:
        sigterm.uninstall()
    names = list(integrations) if integrations is not None else list(_runtime.state.integrations)
    for name in names:
        integration = _runtime.state.integrations.pop(name, None)
        if integration is None:
            continue
        try:
            integration.uninstrument()
        except Exception:  # noqa: BLE001
            logger.warning("threadline: could not uninstrument %s", name, exc_info=True)


def flush(timeout: float = 30.0) -> bool:
    """Export every finished span now; returns False if the timeout ran out."""
    return _runtime.flush(timeout)


def shutdown(timeout: float = 30.0) -> None:
    """Uninstrument everything, flush, and stop threadline's exporters."""
    uninstrument()
    _runtime.shutdown(timeout)
