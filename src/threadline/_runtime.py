"""The pipeline's life: configure the tracer provider and emitter, flush, shut down, exit.

The state it writes lives in :mod:`threadline._state` (re-exported here).
Kept private; the public surface is in :mod:`threadline`.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

from threadline import _state
from threadline._state import Settings, state
from threadline.content import ContentPolicy
from threadline.cost import Prices
from threadline.emitter import Emitter

logger = logging.getLogger("threadline")

TRACER_NAME = "threadline"

settings = _state.settings  # the state lives in threadline._state; read here too


ENVIRONMENT_VARIABLE = "THREADLINE_ENVIRONMENT"


def build_emitter(tracer: Any, s: Settings, resource: Any = None) -> Emitter:
    """An emitter for ``tracer`` configured by ``s`` (``resource``: the provider's, for its environment)."""
    return Emitter(
        tracer,
        content=ContentPolicy(s.capture_content, s.redact, s.max_content_chars, s.capture_exception_text),
        prices=Prices(s.prices),
        session_keys=s.session_keys,
        user_keys=s.user_keys,
        session_mapper=s.session_id_from,
        environment=environment_of(s, resource),
        propagate_session=s.propagate_session,
    )


def environment_of(s: Settings, resource: Any = None) -> str | None:
    """``instrument(environment=...)``, else ``$THREADLINE_ENVIRONMENT``, else the resource's environment."""
    import os

    from threadline import semconv as sc

    found = s.environment or os.environ.get(ENVIRONMENT_VARIABLE)
    if not found and resource is not None:
        found = (getattr(resource, "attributes", None) or {}).get(sc.DEPLOYMENT_ENVIRONMENT)
    return str(found) if found else None


def _resource(s: Settings) -> Any:
    """The resource of threadline's own provider: the OTel default, named after ``project`` when given."""
    from opentelemetry.sdk.resources import Resource

    from threadline import semconv as sc

    if s.project is None:
        return Resource.create()
    return Resource.create({sc.SERVICE_NAME: s.project, sc.OI_PROJECT_NAME: s.project})


def _with_dialects(exporter: Any, s: Settings) -> Any:
    """``exporter`` wrapped to speak ``s.dialects``; threadline's store and console keep one vocabulary."""
    from threadline.exporters.console import ConsoleSpanExporter
    from threadline.exporters.dialects import DialectSpanExporter
    from threadline.exporters.sqlite import SQLiteSpanExporter

    if isinstance(exporter, (SQLiteSpanExporter, ConsoleSpanExporter, DialectSpanExporter)):
        return exporter
    wrapper = DialectSpanExporter(exporter, s.dialects)
    state.dialect_exporters.append(wrapper)
    return wrapper


def configure(
    exporter: Any = None,
    *,
    tracer_provider: Any = None,
    settings: Settings | None = None,
) -> Emitter:
    """Set up (or replace) the tracer provider and emitter; returns the emitter."""
    from opentelemetry.sdk.trace import TracerProvider

    from threadline.exporters._safe import batch_processor, dropped_spans
    from threadline.processors import SessionSpanProcessor

    with state.lock:
        s = settings or state.settings
        if tracer_provider is None:
            requested = _as_list(exporter)
            same = len(requested) == len(state.exporters) and all(
                a is b for a, b in zip(requested, state.exporters, strict=True)
            )
            if state.provider is not None and state.owns_provider and (exporter is None or same):
                # Same exporters again (instrument() called twice): keep the pipeline, since
                # replacing it would shut those very exporters down; new dialects apply to it
                # (a new project needs new exporters: the resource is the provider's).
                tracer_provider = state.provider
                for wrapper in state.dialect_exporters:
                    wrapper.dialects = s.dialects
            else:
                # Not shut down by the SDK's own atexit hook, which waits 30 s per hung exporter:
                # threadline's (at_exit) flushes and stops it within EXIT_TIMEOUT_S.
                tracer_provider = TracerProvider(shutdown_on_exit=False, resource=_resource(s))
                state.dropped_at_flush = dropped_spans()  # flush() reports what this pipeline loses
                exporters = list(requested)
                state.exporters = list(requested)
                if not exporters:
                    from threadline.exporters.sqlite import SQLiteSpanExporter

                    exporters = [SQLiteSpanExporter(retention=s.retention)]
                tracer_provider.add_span_processor(
                    SessionSpanProcessor(environment_of(s, getattr(tracer_provider, "resource", None)))
                )
                state.dialect_exporters = []
                for exp in exporters:
                    tracer_provider.add_span_processor(batch_processor(_with_dialects(exp, s)))
                _replace_provider(tracer_provider, owns=True)
        else:
            if tracer_provider is not state.provider:
                state.dropped_at_flush = dropped_spans()
                tracer_provider.add_span_processor(
                    SessionSpanProcessor(environment_of(s, getattr(tracer_provider, "resource", None)))
                )
                for exp in _as_list(exporter):
                    tracer_provider.add_span_processor(batch_processor(_with_dialects(exp, s)))
                _replace_provider(tracer_provider, owns=False)
        state.settings = s
        state.emitter = build_emitter(
            tracer_provider.get_tracer(TRACER_NAME), s, getattr(tracer_provider, "resource", None)
        )
        if not state.atexit_registered:
            _register_exit_hooks()
            state.atexit_registered = True
        return state.emitter


def _replace_provider(provider: Any, *, owns: bool) -> None:
    old, old_owned = state.provider, state.owns_provider
    state.provider, state.owns_provider = provider, owns
    if old is not None and old is not provider and old_owned:
        try:
            old.shutdown()
        except Exception:  # noqa: BLE001
            logger.warning("threadline: shutting down the previous tracer provider failed", exc_info=True)


def _as_list(exporter: Any) -> list[Any]:
    if exporter is None:
        return []
    if isinstance(exporter, (list, tuple)):
        return list(exporter)
    return [exporter]


def emitter() -> Emitter:
    """The active emitter; configures the default pipeline on first use.

    Integrations used alone (a LangChain handler passed in ``callbacks``)
    get the default SQLite store this way, with no call to ``instrument()``.
    """
    em = state.emitter
    if em is not None:
        return em
    with state.lock:
        if state.emitter is None:
            configure()
        assert state.emitter is not None
        return state.emitter


def _bounded(work: Callable[[], Any], timeout: float, what: str) -> bool:
    """Run ``work`` on a daemon thread, waiting at most ``timeout`` seconds for it.

    OpenTelemetry's ``force_flush`` and ``shutdown`` wait for an export in
    progress without a time limit: a hung exporter must not hang the caller
    (nor the application's exit). True when ``work`` finished in time and
    returned a true value.
    """
    done = threading.Event()
    outcome = [False]

    def run() -> None:
        try:
            outcome[0] = bool(work())
        except Exception:  # noqa: BLE001
            logger.warning("threadline: %s failed", what, exc_info=True)
        finally:
            done.set()

    try:
        threading.Thread(target=run, name=f"threadline-{what}", daemon=True).start()
    except RuntimeError:  # no new threads this late in interpreter shutdown
        run()
    return done.wait(max(0.0, timeout)) and outcome[0]


def flush(timeout: float = 30.0) -> bool:
    """Export everything finished so far; True when it all went out in time and no span was
    dropped (a full disk, a failing backend, a full queue) since the last flush (or instrument())."""
    provider = state.provider
    if provider is None:
        return True
    flushed = _bounded(lambda: provider.force_flush(int(timeout * 1000)), timeout, "flush")
    from threadline.exporters._safe import dropped_spans  # lazily, as configure() imports it

    dropped = dropped_spans()
    with state.lock:
        lost, state.dropped_at_flush = dropped != state.dropped_at_flush, dropped
    return flushed and not lost


def shutdown(timeout: float = 30.0) -> None:
    """Flush and stop the provider threadline owns; a user's provider is flushed and left running.

    Returns within ``timeout`` seconds even when an exporter hangs.
    """
    with state.lock:
        provider, owned = state.provider, state.owns_provider
        state.provider = None
        state.owns_provider = False
        state.emitter = None
        state.exporters = []
        state.dialect_exporters = []
    if provider is not None:
        _flush_and_stop(provider, owned, timeout)


def _flush_and_stop(provider: Any, owned: bool, timeout: float) -> bool:
    def stop() -> bool:
        if owned:
            # Shutting down exports what is queued and stops taking spans; force_flush first would
            # chase the spans other threads keep ending, until the timeout.
            provider.shutdown()
            return True
        return bool(provider.force_flush(int(timeout * 1000)))

    return _bounded(stop, timeout, "shutdown")


# How long the application's exit may wait for threadline to export what is pending.
EXIT_TIMEOUT_S = 10.0


def _register_exit_hooks() -> None:
    atexit.register(at_exit)
    # threading runs its own exit hooks (newest first) when the main thread ends, before atexit
    # handlers; concurrent.futures registers one at import that makes every executor refuse new
    # work. Exporting after it would let daemon threads still running frameworks (LangGraph
    # submits each step to an executor) run into "cannot schedule new futures after interpreter
    # shutdown" while the main thread waits on the export. So export before it, when we can.
    import concurrent.futures.thread  # noqa: F401 - its hook must be registered before ours

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        return
    try:
        register(_before_executors_stop)
    except RuntimeError:  # already shutting down
        pass


def _before_executors_stop() -> None:
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return  # threads that still run get joined after this: the atexit hook exports their spans
    at_exit()


def at_exit(timeout: float | None = None) -> None:
    """Export what is pending and stop, once (at exit, or on SIGTERM), within ``timeout`` (:data:`EXIT_TIMEOUT_S`)."""
    # The state is kept: spans started by later exit handlers must not configure a new pipeline.
    provider = state.provider
    if provider is None or state.exited:
        return
    state.exited = True
    try:
        _flush_and_stop(provider, state.owns_provider, EXIT_TIMEOUT_S if timeout is None else timeout)
    except Exception:  # noqa: BLE001
        pass
