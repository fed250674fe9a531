"""Stopping the process: SIGTERM loses no span, and exit never breaks threads still running frameworks.

Each fault runs in a real subprocess (signals and interpreter exit cannot be
faked in-process); the in-process tests check whose SIGTERM handler is set.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_kit import needs_langgraph

import threadline
from threadline import sigterm

needs_sigterm = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")

SPANS = 1000
# Nothing is exported before a flush: a big queue and batch, and a batch thread that sleeps for 10 minutes.
HOLD_SPANS = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "100000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100000",
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
}

APP = textwrap.dedent(
    """
    import os, signal, sys, threading
    import threadline

    if sys.argv[1] == "own-handler":
        def stop(signum, frame):
            print("the app's handler ran", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, stop)
    threadline.instrument(integrations=[], **({"flush_on_sigterm": False} if sys.argv[1] == "opted-out" else {}))

    @threadline.observe(name="step")
    def step(i):
        return i

    for i in range(SPANS):
        step(i)
    print("ready", flush=True)
    threading.Event().wait(60)  # a server waiting for requests, until it is stopped
    """
).replace("SPANS", str(SPANS))


def _run_until_terminated(tmp_path: Path, mode: str, **env: str) -> tuple[subprocess.CompletedProcess[str], int]:
    db = tmp_path / f"{mode}.db"
    environ = {**os.environ, **HOLD_SPANS, "THREADLINE_DB": str(db), **env}
    environ.pop("PYTEST_CURRENT_TEST", None)
    app = subprocess.Popen(
        [sys.executable, "-c", APP, mode], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert app.stdout is not None
    assert app.stdout.readline().strip() == "ready", app.stderr.read() if app.stderr else ""
    app.send_signal(signal.SIGTERM)
    out, err = app.communicate(timeout=60)
    done = subprocess.CompletedProcess(app.args, app.returncode, "ready\n" + out, err)
    stored = 0
    if db.exists():
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM spans WHERE name = 'step'").fetchone()[0]
    return done, stored


@needs_sigterm
def test_sigterm_exports_every_pending_span_then_ends_as_sigterm_would(tmp_path: Path) -> None:
    done, stored = _run_until_terminated(tmp_path, "default")
    assert done.returncode == -signal.SIGTERM, done.stderr  # killed by SIGTERM, as without threadline
    assert stored == SPANS, done.stderr


@needs_sigterm
def test_sigterm_flush_can_be_turned_off(tmp_path: Path) -> None:
    """The control, by keyword and by environment: Python's default action, the queued spans lost."""
    for mode, env in (("opted-out", {}), ("default", {sigterm.ENV: "0"})):
        done, stored = _run_until_terminated(tmp_path, mode, **env)
        assert done.returncode == -signal.SIGTERM, done.stderr
        assert stored == 0, f"{mode} {env}: the spans were exported, so this test would prove nothing"


@needs_sigterm
def test_an_application_sigterm_handler_is_kept(tmp_path: Path) -> None:
    done, stored = _run_until_terminated(tmp_path, "own-handler")
    assert "the app's handler ran" in done.stdout
    assert done.returncode == 7, done.stderr
    assert stored == SPANS  # the app's handler exits normally: the exit hook exports


@pytest.fixture
def default_sigterm() -> Iterator[None]:
    if not hasattr(signal, "SIGTERM"):
        pytest.skip("no SIGTERM here")
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, before)


def test_the_handler_is_set_only_over_the_default_and_removed_when_done(default_sigterm: None) -> None:
    threadline.instrument(integrations=[])
    assert sigterm.installed()
    threadline.instrument(integrations=[])  # twice: still one handler
    assert sigterm.installed()
    threadline.uninstrument()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    threadline.instrument(integrations=[])
    threadline.shutdown(5)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own(signum: int, frame: object) -> None:
        return None

    signal.signal(signal.SIGTERM, own)
    threadline.instrument(integrations=[])
    assert signal.getsignal(signal.SIGTERM) is own
    threadline.uninstrument()
    assert signal.getsignal(signal.SIGTERM) is own  # not ours to restore

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threadline.instrument(integrations=[], flush_on_sigterm=False)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


DAEMON_APP = textwrap.dedent(
    """
    import operator, sys, threading
    from typing import Annotated, TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    import threadline

    exporting = threading.Event()  # threadline's exit export has begun
    answered = threading.Event()  # the daemon thread's graph run during that export is over

    class SlowBackend(SpanExporter):
        # Its export at exit lasts as long as one more graph run on the daemon thread (a slow network).
        def export(self, spans):
            exporting.set()
            answered.wait(30)
            return SpanExportResult.SUCCESS

    threadline.instrument(exporter=SlowBackend(), integrations=["langchain", "langgraph"])

    class State(TypedDict):
        n: Annotated[int, operator.add]

    builder = StateGraph(State)
    builder.add_node("a", lambda s: {"n": 1})
    builder.add_node("b", lambda s: {"n": 1})  # a and b run in parallel: LangGraph submits them to an executor
    builder.add_node("c", lambda s: {"n": 1})
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge("a", "c")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    started = threading.Event()

    def conversations():
        i = 0
        try:
            while True:
                i += 1
                out = graph.invoke({"n": 0}, {"configurable": {"thread_id": f"t-{i}"}})
                assert out["n"] == 3
                started.set()
                if exporting.is_set():  # a whole run, from its first step, while threadline exports at exit
                    out = graph.invoke({"n": 0}, {"configurable": {"thread_id": f"t-{i}-exit"}})
                    print("a graph ran during the exit export:", out["n"], flush=True)
                    return
        except BaseException as exc:
            print(f"graph failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            answered.set()

    threading.Thread(target=conversations, daemon=True).start()
    started.wait(60)
    threadline.observe(name="last-request")(lambda: None)()  # something is pending at exit
    print("main thread done", flush=True)
    """
)


@needs_langgraph
def test_a_daemon_thread_running_langgraph_at_exit_is_not_broken(tmp_path: Path) -> None:
    env = {**os.environ, **HOLD_SPANS, "THREADLINE_DB": str(tmp_path / "t.db")}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run([sys.executable, "-c", DAEMON_APP], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cannot schedule new futures" not in done.stderr
    assert "graph failed" not in done.stderr, done.stderr
    # The daemon thread really was running LangGraph while threadline exported at exit.
    assert "a graph ran during the exit export: 3" in done.stdout, (done.stdout, done.stderr)
