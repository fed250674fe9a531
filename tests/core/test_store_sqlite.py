"""The SQLite exporter: where the store lives, what a row holds, safety of the file, concurrent writers."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.store import SCHEMA_VERSION, StoreError, StoreNotFoundError, open_store, queries
from threadline.usage import Usage

PYTHON = sys.executable


def _spans(n_turns: int = 3) -> list:
    """Finished spans from the real emitter (kept in memory, not yet stored)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    threadline.instrument(tracer_provider=provider, integrations=[])
    emitter = current_emitter()
    with threadline.session("s-1", user_id="u-1"):
        for i in range(n_turns):
            root = emitter.start(Run(name="turn", run_kind=SpanKind.OBSERVE, inputs=f"question {i}"))
            call = emitter.start(
                ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs="hi"), parent=root
            )
            call.record.usage = Usage(input_tokens=10, output_tokens=2)
            emitter.end(call)
            emitter.end(root)
    return list(memory.get_finished_spans())


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM spans").fetchone()[0]


# --- where the store lives -----------------------------------------------------------------------


def test_default_path_is_under_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("THREADLINE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    exporter = SQLiteSpanExporter()
    try:
        assert exporter.path == tmp_path / ".threadline" / "traces.db"
        assert exporter.path.exists()
    finally:
        exporter.shutdown()


def test_env_var_then_argument_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "from-env.db"))
    from_env = SQLiteSpanExporter()
    explicit = SQLiteSpanExporter(tmp_path / "explicit.db")
    try:
        assert from_env.path == tmp_path / "from-env.db"
        assert explicit.path == tmp_path / "explicit.db"
        assert (tmp_path / "explicit.db").exists()
    finally:
        from_env.shutdown()
        explicit.shutdown()


def test_instrument_without_exporter_writes_the_default_store(tmp_path) -> None:
    db = Path(os.environ["THREADLINE_DB"])  # set per test by tests/conftest.py
    threadline.instrument(integrations=[])
    with threadline.session("default-store"):
        handle = current_emitter().start(Run(name="turn", run_kind=SpanKind.OBSERVE))
        current_emitter().end(handle)
    assert threadline.flush()
    assert [s.session_id for s in queries.list_sessions(db)] == ["default-store"]


# --- the file is private and versioned ---------------------------------------------------------


def test_file_is_owner_only_and_directory_private(tmp_path) -> None:
    db = tmp_path / "new-dir" / "nested" / "traces.db"
    exporter = SQLiteSpanExporter(db)
    try:
        assert exporter.export(_spans(1)) is SpanExportResult.SUCCESS
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
        wal = db.with_name(db.name + "-wal")
        assert wal.exists(), "the store runs in WAL mode"
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    finally:
        exporter.shutdown()


def test_existing_directory_permissions_are_left_alone(tmp_path) -> None:
    os.chmod(tmp_path, 0o755)
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    exporter.shutdown()
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_schema_is_versioned_in_meta(tmp_path) -> None:
    db = tmp_path / "traces.db"
    SQLiteSpanExporter(db).shutdown()
    with sqlite3.connect(db) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        assert meta["application"] == "threadline"
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again keeps it (no second initialisation, no error).
    SQLiteSpanExporter(db).shutdown()


def test_corrupted_file_is_refused_at_construction(tmp_path) -> None:
    db = tmp_path / "traces.db"
    exporter = SQLiteSpanExporter(db)
    exporter.export(_spans(1))
    exporter.shutdown()
    with open(db, "r+b") as f:  # wreck the header
        f.write(b"\x00garbage, not a database header" * 4)
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a usable threadline store") as info:
        SQLiteSpanExporter(db)
    assert str(db) in str(info.value)
    assert db.read_bytes() == before, "the file is left exactly as it was"


def test_a_text_file_is_refused(tmp_path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreError, match="not a usable threadline store"):
        SQLiteSpanExporter(db)
    assert db.read_text().startswith("these are my notes")


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    with pytest.raises(StoreError, match="not a threadline store") as info:
        SQLiteSpanExporter(db)
    assert "users" in str(info.value)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"users"}
        assert conn.execute("SELECT email FROM users").fetchall() == [("a@example.com",)]


def test_foreign_database_with_its_own_meta_table_is_refused(tmp_path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (name TEXT, content TEXT)")
    with pytest.raises(StoreError, match="not a threadline store"):
        SQLiteSpanExporter(db)


def test_a_path_that_cannot_be_created_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the threadline store"):
        SQLiteSpanExporter(blocker / "traces.db")


def test_store_from_a_newer_threadline_is_refused(tmp_path) -> None:
    db = tmp_path / "traces.db"
    SQLiteSpanExporter(db).shutdown()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer"):
        SQLiteSpanExporter(db)


def test_instrument_with_a_foreign_file_fails_clearly(tmp_path, monkeypatch) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    monkeypatch.setenv("THREADLINE_DB", str(db))
    with pytest.raises(StoreError, match="not a threadline store"):
        threadline.instrument(integrations=[])


def test_readers_never_create_a_store(tmp_path) -> None:
    missing = tmp_path / "nothing-here.db"
    with pytest.raises(StoreNotFoundError):
        open_store(missing, create=False)
    with pytest.raises(StoreNotFoundError):
        queries.list_sessions(missing)
    assert not missing.exists()


# --- what a row holds ------------------------------------------------------------------------------


def test_row_promotes_columns_and_keeps_every_attribute_value_once(tmp_path) -> None:
    db = tmp_path / "traces.db"
    spans = _spans(1)
    exporter = SQLiteSpanExporter(db)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    model = next(s for s in spans if s.name == "chat gpt-4o-mini")
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM spans WHERE span_id = ?", (format(model.context.span_id, "016x"),)).fetchone()
    assert row["trace_id"] == format(model.context.trace_id, "032x")
    assert row["parent_span_id"] == format(model.parent.span_id, "016x")
    assert row["kind"] == "model"
    assert row["start_ns"] == model.start_time and row["end_ns"] == model.end_time
    assert row["status_code"] == "UNSET"
    assert row["outcome"] == "ok"
    assert row["session_id"] == "s-1" and row["user_id"] == "u-1"
    assert row["model"] == "gpt-4o-mini" and row["provider"] == "openai"
    assert (row["input_tokens"], row["output_tokens"]) == (10, 2)
    assert row["cost_usd"] == pytest.approx(model.attributes[sc.GEN_AI_USAGE_COST])
    attributes = json.loads(row["attributes"])
    # The emitter writes one vocabulary (the dialects are added on the way to OTLP, not here).
    assert not (set(sc.MIRRORS) | sc.DIALECT_ONLY) & set(model.attributes)
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in model.attributes.items() if k not in sc.MIRRORS}
    assert attributes == expected


def test_a_mirror_name_with_its_own_value_is_kept(tmp_path) -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    span = provider.get_tracer("user").start_span("user span")
    span.set_attributes({sc.GEN_AI_PROVIDER_NAME: "openai", sc.OI_LLM_PROVIDER: "azure", sc.OI_INPUT_VALUE: "q"})
    span.set_attribute(sc.GEN_AI_INPUT_MESSAGES, "[]")
    span.end()
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()
    with sqlite3.connect(tmp_path / "traces.db") as conn:
        (stored,) = conn.execute("SELECT attributes FROM spans").fetchone()
    assert json.loads(stored) == {
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.OI_LLM_PROVIDER: "azure",
        sc.OI_INPUT_VALUE: "q",
        sc.GEN_AI_INPUT_MESSAGES: "[]",
    }


def test_events_links_and_non_finite_floats_are_valid_json(tmp_path) -> None:
    db = tmp_path / "traces.db"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("second", links=[Link(first.get_span_context(), {"why": "retry"})]) as span:
        span.set_attribute("odd.value", math.nan)
        span.set_attribute("big.value", math.inf)
        span.add_event("checkpoint", {"step": 3})
    exporter = SQLiteSpanExporter(db)
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()
    with sqlite3.connect(db) as conn:
        attrs, events, links = conn.execute(
            "SELECT attributes, events, links FROM spans WHERE name = 'second'"
        ).fetchone()
        # SQLite's own JSON functions must accept every stored document.
        assert conn.execute(
            "SELECT json_valid(?) AND json_valid(?) AND json_valid(?)", (attrs, events, links)
        ).fetchone()[0]
    assert json.loads(attrs) == {"odd.value": "nan", "big.value": "inf"}
    assert json.loads(events)[0]["name"] == "checkpoint" and json.loads(events)[0]["attributes"] == {"step": 3}
    assert json.loads(links)[0]["span_id"] == format(first.get_span_context().span_id, "016x")


def test_exporting_the_same_spans_twice_stores_them_once(tmp_path) -> None:
    db = tmp_path / "traces.db"
    spans = _spans(2)
    exporter = SQLiteSpanExporter(db)
    exporter.export(spans)
    exporter.export(spans)
    exporter.shutdown()
    assert _count(db) == len(spans) == 4


def test_shutdown_closes_and_later_exports_fail_quietly(tmp_path) -> None:
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    assert exporter.force_flush() is True
    exporter.shutdown()
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE


def test_a_held_write_lock_is_waited_for_not_reported(tmp_path, caplog) -> None:
    db = tmp_path / "traces.db"
    exporter = SQLiteSpanExporter(db)
    spans = _spans(2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    locked = threading.Event()
    result: list[SpanExportResult] = []

    def export() -> None:
        locked.set()
        result.append(exporter.export(spans))

    worker = threading.Thread(target=export)
    worker.start()
    locked.wait()
    worker.join(0.3)
    holder.execute("COMMIT")
    holder.close()
    worker.join(30)
    exporter.shutdown()
    assert result == [SpanExportResult.SUCCESS]
    assert _count(db) == len(spans)
    assert "locked" not in caplog.text


# --- several processes at once -----------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    import threadline
    from threadline.exporters.sqlite import SQLiteSpanExporter
    from threadline.integration import current_emitter
    from threadline.records import ModelCall, Run, SpanKind
    from threadline.usage import Usage

    db, tag, turns = sys.argv[1], sys.argv[2], int(sys.argv[3])
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    print("ready", flush=True)
    sys.stdin.readline()  # start writing together
    emitter = current_emitter()
    with threadline.session(f"proc-{tag}", user_id=f"user-{tag}"):
        for i in range(turns):
            root = emitter.start(Run(name="turn", run_kind=SpanKind.OBSERVE, inputs=f"{tag}-{i}"))
            call = emitter.start(
                ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini"), parent=root
            )
            call.record.usage = Usage(input_tokens=7, output_tokens=3)
            emitter.end(call)
            emitter.end(root)
            if i % 50 == 49:
                threadline.flush()  # write in rounds: the two writers' transactions take turns on the lock
            if i == turns // 2 - 1:
                # A barrier half-way: neither writer's second half starts before both first halves
                # are stored, so the two processes' rows interleave however the machine schedules them.
                print("half", flush=True)
                sys.stdin.readline()
    threadline.shutdown()
    print("done", flush=True)
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path) -> None:
    db = tmp_path / "shared" / "traces.db"  # neither process finds a store: both create it at once
    turns = 1000  # 2 spans per turn: 2 x 2000 spans
    env = {
        **os.environ,
        # Small, frequent batches so that the two writers' transactions interleave.
        "OTEL_BSP_SCHEDULE_DELAY": "1",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
    }
    procs = [
        subprocess.Popen(
            [PYTHON, "-c", WRITER, str(db), tag, str(turns)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for line in ("go\n", None, "go\n"):  # start together; wait for both halves; go on together
        for proc in procs:
            assert proc.stdin is not None and proc.stdout is not None
            if line is None:
                assert proc.stdout.readline().strip() == "half", proc.stderr.read()
            else:
                proc.stdin.write(line)
                proc.stdin.flush()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "done" in out
        assert "locked" not in err and "could not write" not in err, err

    assert _count(db) == 2 * 2 * turns
    with sqlite3.connect(db) as conn:
        order = [r[0] for r in conn.execute("SELECT session_id FROM spans ORDER BY rowid")]
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches >= 2, "the two writers' rows did not interleave: this run tested no concurrency"
    sessions = {s.session_id: s for s in queries.list_sessions(db)}
    assert set(sessions) == {"proc-a", "proc-b"}
    for tag in ("a", "b"):
        s = sessions[f"proc-{tag}"]
        assert s.traces == turns
        assert s.input_tokens == 7 * turns and s.output_tokens == 3 * turns
        assert s.users == (f"user-{tag}",)
