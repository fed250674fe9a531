"""threadline: one-line tracing for LLM applications, with sessions and cost.

>>> import threadline
>>> threadline.instrument()          # every installed integration, SQLite store
>>> with threadline.session("chat-42", user_id="u-1"):
...     graph.invoke(...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from threadline import _runtime, plugins
from threadline.cost import ModelRate
from threadline.dialects import DIALECTS
from threadline.dialects import check as check_dialects
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
    dialects: Iterable[str] | None = None,
    project: str | None = None,
    environment: str | None = None,
    propagate_session: bool = False,
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
        dialects: what OTLP and custom exporters receive on top of
            threadline's own attributes: any of ``"genai"`` (OpenTelemetry GenAI
            message shapes), ``"openinference"`` (Phoenix, Arize) and
            ``"langfuse"``; all three by default, ``()`` for none. The SQLite
            store always keeps one copy.
        project: the service and project name (``service.name`` and
            ``openinference.project.name`` on the resource of threadline's
            own tracer provider).
        environment: stamped on every span as ``deployment.environment.name``;
            default ``$THREADLINE_ENVIRONMENT``, else the tracer provider's
            resource.
        propagate_session: put the session and user id of a
            :func:`threadline.session` scope in W3C baggage, so OpenTelemetry
            HTTP instrumentations carry them to the next service, and pick a
            session id up from incoming baggage when a trace has no other.
            The ids then travel in request headers: off by default.

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
        dialects=check_dialects(dialects) if dialects is not None else DIALECTS,
        project=project,
        environment=environment,
        propagate_session=propagate_session,
    )
    emitter = _runtime.configure(exporter, tracer_provider=tracer_provider, settings=settings)
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
    """Stop tracing the named integrations (all by default) and restore them."""
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
