"""The embedded store at scale: 1M spans in 10k sessions, read by the CLI and the web view.

The store is filled through the real ``SQLiteSpanExporter`` (rollups and content
written as in production) with LangGraph-shaped sessions: a template session of
10 turns is recorded by threadline's emitter (graph, nodes, model calls with
the growing message history, a tool, usage and cost: 10 spans a turn), then
cloned per session with new ids, times and message texts, in batches of 512 (the
batch size threadline gives local exporters: OpenTelemetry's default).

Reported, one row each (the issue's table, and full-text search: a word in
every session, a rare one, and a search within one session): ``threadline sessions`` and
``--since -1h`` (matching nothing) beyond the CLI's own start-up, the web view's
sessions page alone and 4 at once, one session in the CLI and the web view,
bytes per span, the cost of turn 100 of a long conversation, and the export
throughput of the fill. ``THREADLINE_BENCH_STORE=path`` reuses (or keeps) a
filled store, since the fill takes minutes.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.harness import Config, Row
from benchmarks.pipelines import require

MARK = "#SID#"
SPANS_PER_TURN = 10
TURNS_PER_SESSION = 10
BATCH = 512
S = 10**9

TARGETS = {  # measure -> (target text, limit, unit)
    "sessions_ms": ("≤ 100 ms beyond start-up", 100.0),
    "sessions_read_ms": ("", 0.0),
    "since_empty_ms": ("≤ 50 ms beyond start-up", 50.0),
    "ui_page_ms": ("≤ 100 ms", 100.0),
    "ui_page_4_ms": ("≤ 200 ms each", 200.0),
    "session_cli_ms": ("≤ 50 ms beyond start-up", 50.0),
    "session_ui_ms": ("≤ 50 ms", 50.0),
    "bytes_per_span": ("≤ 1,200 B", 1200.0),
    "turn_100_bytes": ("≤ 4,096 B", 4096.0),
    "turn_100_agent_bytes": ("O(turns): ≈ early turns", 0.0),
    "export_spans_per_s": ("≥ 20,000 spans/s", -20_000.0),
    "search_word_ms": ("≤ 100 ms", 100.0),
    "search_rare_ms": ("≤ 100 ms", 100.0),
    "search_session_ms": ("≤ 100 ms", 100.0),
    "search_since_ms": ("≤ 100 ms", 100.0),
}


def _session_template(turns: int, provider: Any = None, *, chatbot: bool = False) -> list[Any]:
    """The finished spans of one LangGraph-shaped session of ``turns`` turns (texts carry :data:`MARK`).

    A turn is a support agent's 10 spans (graph, prepare, agent -> model, route, tools -> tool, agent ->
    model, route) or, with ``chatbot``, LangGraph's quickstart chatbot: graph, node, model (3 spans).
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import threadline
    from threadline import _runtime
    from threadline.records import ModelCall, Run, SpanKind, ToolCall
    from threadline.usage import Usage

    memory = InMemorySpanExporter()
    own = provider is None
    if own:
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    emitter = _runtime.build_emitter(provider.get_tracer("threadline"), _runtime.Settings())
    system = {"role": "system", "content": "You are Ada, the support agent of Acme Outdoor. Be brief and friendly."}
    history: list[dict[str, Any]] = []
    for turn in range(turns):
        user = {"role": "user", "content": f"[{MARK}] Turn {turn}: where is my order A-{1000 + turn}, please?"}
        history.append(user)
        with threadline.session(f"bench-{MARK}", user_id=f"user-{MARK}"):
            graph = emitter.start(
                Run("LangGraph", integration="langgraph", run_kind=SpanKind.GRAPH, inputs={"messages": [user]}),
                use_current=False,
            )
            if not chatbot:
                prepare = emitter.start(
                    Run("prepare", integration="langgraph", run_kind=SpanKind.NODE, node="prepare", step=1),
                    parent=graph,
                )
                emitter.end(prepare)
            for step, final in ((4, True),) if chatbot else ((2, False), (4, True)):
                node = emitter.start(
                    Run("agent", integration="langgraph", run_kind=SpanKind.NODE, node="agent", step=step,
                        inputs={"messages": list(history)}),
                    parent=graph,
                )  # fmt: skip
                call = ModelCall("chat gpt-4o-mini", integration="langchain", provider="openai",
                                 request_model="gpt-4o-mini", inputs=[system, *history])  # fmt: skip
                llm = emitter.start(call, parent=node)
                if final:
                    reply: dict[str, Any] = {
                        "role": "assistant",
                        "content": f"[{MARK}] Order A-{1000 + turn} ships today.",
                    }
                else:
                    lookup = {
                        "id": f"call-{turn}",
                        "name": "lookup_order",
                        "arguments": {"order_id": f"A-{1000 + turn}"},
                    }
                    reply = {"role": "assistant", "content": "", "tool_calls": [lookup]}
                call.outputs = reply
                call.response_model = "gpt-4o-mini-2024-07-18"
                call.usage = Usage(input_tokens=60 * len(history) + 40, output_tokens=18, total_tokens=None)
                emitter.end(llm)
                history.append(reply)
                node.record.outputs = {"messages": [reply]}
                emitter.end(node)
                if not chatbot:
                    route = emitter.start(Run("route", integration="langgraph", run_kind=SpanKind.CHAIN), parent=graph)
                    route.record.outputs = "__end__" if final else "tools"
                    emitter.end(route)
                if not final:
                    tools = emitter.start(
                        Run("tools", integration="langgraph", run_kind=SpanKind.NODE, node="tools", step=3),
                        parent=graph,
                    )
                    tool = emitter.start(
                        ToolCall("lookup_order", inputs={"order_id": f"A-{1000 + turn}"}), parent=tools
                    )
                    result = {"role": "tool", "content": f'{{"order": "A-{1000 + turn}", "status": "shipped"}}'}
                    tool.record.outputs = result["content"]
                    emitter.end(tool)
                    history.append(result)
                    tools.record.outputs = {"messages": [result]}
                    emitter.end(tools)
            graph.record.outputs = {"messages": list(history)}
            emitter.end(graph)
    spans = list(memory.get_finished_spans())
    if own:
        provider.shutdown()
    return spans


class _Cloner:
    """Copies of the template session with a new session number, ids and times."""

    def __init__(self, template: list[Any]) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, TraceFlags

        self._readable, self._context, self._flags = ReadableSpan, SpanContext, TraceFlags(1)
        self.template = template
        self.t0 = min(s.start_time for s in template)
        self.marked = [
            [k for k, v in (s.attributes or {}).items() if isinstance(v, str) and MARK in v] for s in template
        ]

    def session(self, number: int, start_ns: int, rng: random.Random) -> list[Any]:
        sid = f"{number:05d}"
        traces: dict[int, int] = {}
        spans: dict[int, int] = {}
        out = []
        for s, marked in zip(self.template, self.marked, strict=True):
            attrs = dict(s.attributes or {})
            for k in marked:
                attrs[k] = attrs[k].replace(MARK, sid)
            ctx = s.context
            trace = traces.setdefault(ctx.trace_id, rng.getrandbits(128) or 1)
            new = self._context(trace, spans.setdefault(ctx.span_id, rng.getrandbits(64) or 1), False, self._flags)
            parent = None
            if s.parent is not None:
                parent = self._context(trace, spans.setdefault(s.parent.span_id, rng.getrandbits(64) or 1), False,
                                       self._flags)  # fmt: skip
            shift = start_ns - self.t0
            out.append(
                self._readable(
                    name=s.name, context=new, parent=parent, resource=s.resource, attributes=attrs,
                    events=s.events, links=s.links, kind=s.kind, status=s.status,
                    start_time=s.start_time + shift, end_time=s.end_time + shift,
                    instrumentation_scope=s.instrumentation_scope,
                )
            )  # fmt: skip
        return out


def fill(db: Path, sessions: int, log: Any) -> tuple[int, float]:
    """Fill ``db`` with ``sessions`` cloned sessions through the exporter; (spans, export seconds)."""
    from threadline.exporters.sqlite import SQLiteSpanExporter

    cloner = _Cloner(_session_template(TURNS_PER_SESSION))
    exporter = SQLiteSpanExporter(db)
    rng = random.Random(13)
    now = time.time_ns()
    base = now - 30 * 86400 * S  # a month of traffic, ending two hours ago
    gap = (30 * 86400 - 7200) * S // max(sessions, 1)
    pending: list[Any] = []
    written, spent = 0, 0.0
    for number in range(sessions):
        pending.extend(cloner.session(number, base + number * gap, rng))
        while len(pending) >= BATCH:
            batch, pending = pending[:BATCH], pending[BATCH:]
            t0 = time.perf_counter()
            exporter.export(batch)
            spent += time.perf_counter() - t0
            written += len(batch)
        if number and number % 1000 == 0:
            log(f"  store: {number:,} sessions, {written:,} spans, {written / spent:,.0f} spans/s")
    if pending:
        t0 = time.perf_counter()
        exporter.export(pending)
        spent += time.perf_counter() - t0
        written += len(pending)
    exporter.shutdown()
    return written, spent


def _cli_ms(args: list[str], runs: int) -> float:
    """Median wall time of ``threadline ARGS`` in a fresh interpreter, in ms."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "threadline.cli", *args], check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _inprocess_ms(args: list[str], runs: int) -> float:
    """Median wall time of ``threadline ARGS`` run in this (warm) interpreter: the CLI's work beyond start-up."""
    import contextlib
    import io

    from threadline.cli import main

    times = []
    for _ in range(runs + 1):
        sink = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            main(args)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])  # the first run warms the page cache and the imports


def _read_ms(db: Path, runs: int) -> float:
    """Median time of the sessions listing's read alone (what the store costs the CLI and the web view)."""
    from threadline.store import queries

    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        queries.list_sessions(db)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])


def _search_ms(db: Path, query: str, runs: int, **filters: Any) -> tuple[float, int]:
    """Median time of one full-text search (50 newest matching traces) in a warm process; (ms, hits)."""
    from threadline.store import search

    times, found = [], 0
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        found = len(search.search(db, query, **filters))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:]), found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_ms(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
    return (time.perf_counter() - t0) * 1000


def _ui(db: Path, session_id: str, runs: int) -> tuple[float, float, float]:
    """(sessions page alone, each of 4 at once, one session page), medians in ms, from a server process."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "threadline.cli", "ui", "--db", str(db), "--port", str(port), "--no-browser"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get_ms(base + "/static/ui.css")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        _get_ms(base + "/")  # warm
        single = statistics.median(_get_ms(base + "/") for _ in range(runs))
        together: list[float] = []
        for _ in range(runs):
            found: list[float] = []

            def fetch(into: list[float] = found) -> None:
                into.append(_get_ms(base + "/"))

            threads = [threading.Thread(target=fetch) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            together.extend(found)
        one = statistics.median(_get_ms(f"{base}/sessions/{session_id}") for _ in range(runs))
        return single, statistics.median(together), one
    finally:
        server.terminate()
        server.wait(30)


def _file_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size, free = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size",
                                                                                  "freelist_count"))  # fmt: skip
    return int((pages - free) * size)


def turn_100_bytes(work: Path, *, chatbot: bool) -> tuple[float, float]:
    """Bytes a turn adds to the file around turn 100 of one long conversation (turns 91-110), and early (2-11)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from threadline.exporters.sqlite import SQLiteSpanExporter

    db = work / f"store-long-conversation-{'chatbot' if chatbot else 'agent'}.db"
    sizes: list[int] = []

    class Measured(SQLiteSpanExporter):
        def export(self, spans: Any) -> Any:
            result = super().export(spans)
            if any(s.parent is None for s in spans):  # a turn's root ends last: the turn is stored
                sizes.append(_file_bytes(db))
            return result

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Measured(db)))
    _session_template(110, provider, chatbot=chatbot)
    provider.shutdown()
    return (sizes[109] - sizes[89]) / 20, (sizes[11] - sizes[1]) / 10


def run(cfg: Config) -> list[Row]:
    """Fill (or reuse) the big store, then measure every row of the issue's table."""
    require("threadline.exporters.sqlite", "threadline.store.queries")
    quick = cfg.mode == "quick"
    sessions = 20 if quick else 10_000
    runs = 1 if quick else 7
    work = Path(cfg.workdir)
    kept = os.environ.get("THREADLINE_BENCH_STORE")
    db = Path(kept) if kept and not quick else work / "store-big.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    export_rate = None
    if not db.exists():
        cfg.log(f"  store: filling {sessions:,} sessions x {TURNS_PER_SESSION * SPANS_PER_TURN} spans into {db}")
        written, spent = fill(db, sessions, cfg.log)
        export_rate = written / spent
    with sqlite3.connect(db) as conn:
        spans = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        count = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        session_id = conn.execute("SELECT session_id FROM sessions ORDER BY active_ns DESC LIMIT 1").fetchone()[0]
    size = _file_bytes(db)
    cfg.log(f"  store: {spans:,} spans, {count:,} sessions, {size / 1e6:,.0f} MB")

    empty = work / "store-startup.db"
    if not empty.exists():
        fill(empty, 1, lambda _m: None)
    startup = _cli_ms(["sessions", "--db", str(empty)], runs)
    whole = _cli_ms(["sessions", "--db", str(db)], runs)
    sessions_ms = _inprocess_ms(["sessions", "--db", str(db)], runs)
    read_ms = _read_ms(db, runs)
    since_ms = _inprocess_ms(["sessions", "--since=-1h", "--db", str(db)], runs)
    session_cli = _inprocess_ms(["session", session_id, "--db", str(db)], runs)
    single, four, one = _ui(db, session_id, runs)
    word_ms, word_hits = _search_ms(db, "ships", runs)  # in every session's final replies
    rare_ms, rare_hits = _search_ms(db, session_id.removeprefix("bench-"), runs)  # one session's own number
    with sqlite3.connect(db) as conn:  # the oldest session: its spans are furthest from the newest matches
        oldest = conn.execute("SELECT session_id FROM sessions ORDER BY active_ns LIMIT 1").fetchone()[0]
    in_session_ms, in_session_hits = _search_ms(db, "order", runs, session_id=oldest)
    since_ms, since_hits = _search_ms(db, "order", runs, since=time.time_ns() - 3600 * S)
    turn_100, turn_1 = turn_100_bytes(work, chatbot=True)
    agent_100, agent_1 = turn_100_bytes(work, chatbot=False)
    measured = {
        "sessions_ms": (
            sessions_ms,
            f"in a warm process; a fresh `threadline sessions`: {whole:.0f} ms here, "
            f"{startup:.0f} ms on a 1-session store",
        ),
        "sessions_read_ms": (read_ms, "list_sessions(): the store's part of `threadline sessions` (50 rows)"),
        "since_empty_ms": (since_ms, "in a warm process; nothing matches"),
        "ui_page_ms": (single, "GET / (50 sessions of 10k)"),
        "ui_page_4_ms": (four, "4 concurrent GET /"),
        "session_cli_ms": (session_cli, "in a warm process; 10 turns"),
        "session_ui_ms": (one, "GET /sessions/ID"),
        "search_word_ms": (word_ms, f"search('ships'): a word in every session; the newest {word_hits} traces"),
        "search_rare_ms": (rare_ms, f"search(one session's number): {rare_hits} traces"),
        "search_session_ms": (
            in_session_ms,
            f"search('order', session_id=the oldest session): {in_session_hits} traces",
        ),
        "search_since_ms": (since_ms, f"search('order', since=-1h): {since_hits} traces (none started since)"),
        "bytes_per_span": (size / spans, f"{spans:,} spans in {size / 1e6:,.0f} MB (rollups and content included)"),
        "turn_100_bytes": (turn_100, f"chatbot (3 spans a turn), turns 91-110; turns 2-11: {turn_1:,.0f} B"),
        "turn_100_agent_bytes": (
            agent_100,
            f"support agent (10 spans a turn), turns 91-110; turns 2-11: {agent_1:,.0f} B",
        ),
    }
    if export_rate is not None:
        measured["export_spans_per_s"] = (export_rate, f"the fill: batches of {BATCH}, rollups and content included")
    for name, (value, note) in measured.items():
        target, limit = TARGETS[name]
        met = None if quick or not limit else (value <= limit if limit > 0 else value >= -limit)
        rows.append(Row("store", name, "store", {"value": round(value, 1)}, target=target, met=met, note=note))
    return rows
