"""The SQLite store: several processes at once, files that are not a store, file permissions."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import threadline
from threadline.exporters._safe import dropped_spans
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import StoreError, queries, rollup_check

PROCESSES = 4
SPANS_EACH = 10_000

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import threadline
    from threadline.exporters._safe import dropped_spans
    from threadline.integration import current_emitter
    from threadline.records import Run

    name, go = sys.argv[1], sys.argv[2]
    threadline.instrument(integrations=[])  # the default store: $THREADLINE_DB, shared by all writers
    emitter = current_emitter()
    while not os.path.exists(go):  # start together, so that the writers contend for the file
        time.sleep(0.002)
    for i in range(SPANS_EACH // 5):
        # Traces of five spans in sessions that every writer adds to at once: the rollups of one
        # session are updated by four processes, and a trace's spans may land in two batches.
        with threadline.session(f"shared-{i % 25}", user_id=name):
            root = emitter.start(Run(name=f"{name}-{i}", integration="reliability"))
            for k in range(4):
                emitter.end(emitter.start(Run(name=f"{name}-{i}.{k}", integration="reliability"), parent=root))
            emitter.end(root)
    print(threadline.flush(240), dropped_spans())
    """
).replace("SPANS_EACH", str(SPANS_EACH))


def test_four_processes_write_the_same_store_at_once(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "traces.db"
    go = tmp_path / "go"
    env = {
        **os.environ,
        "THREADLINE_DB": str(db),
        # A queue that holds every span (nothing may be dropped for being fast) and small
        # batches: many short transactions, so the writers really take turns on the lock.
        "OTEL_BSP_MAX_QUEUE_SIZE": str(SPANS_EACH),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{n}", str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    go.touch()
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert out.split() == ["True", "0"], (out, err)  # flushed in time, nothing dropped
        assert "locked" not in err.lower(), err  # no "database is locked" surfaced, not even in a log

    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT name) FROM spans").fetchone()
        per_writer = dict(
            conn.execute("SELECT substr(name, 1, instr(name, '-') - 1), count(*) FROM spans GROUP BY 1").fetchall()
        )
    assert total == distinct == PROCESSES * SPANS_EACH
    assert per_writer == {f"w{n}": SPANS_EACH for n in range(PROCESSES)}
    # The rollups written beside the spans equal a full recomputation from the spans.
    with sqlite3.connect(db, isolation_level=None) as conn:
        assert rollup_check.differences(conn) == []
    sessions = queries.list_sessions(db, limit=None)
    assert len(sessions) == 25
    assert sum(s.traces for s in sessions) == PROCESSES * SPANS_EACH // 5
    assert all(s.users == tuple(f"w{n}" for n in range(PROCESSES)) for s in sessions)


# --- files that are not a store ---------------------------------------------------------------------------


def _sqlite_with_users(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('ada@example.com')")
    conn.close()


NOT_A_STORE = {
    "not SQLite": lambda p: p.write_bytes(b"these are my notes, not a database\n" * 200),
    "a corrupted SQLite file": lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(4096)),
    "another application's database": _sqlite_with_users,
}


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "traces.db"
    monkeypatch.setenv("THREADLINE_DB", str(path))
    yield path


@pytest.mark.parametrize("make", NOT_A_STORE.values(), ids=NOT_A_STORE.keys())
def test_a_file_that_is_not_a_store_is_refused_with_a_clear_error_and_left_untouched(
    make: object, store_path: Path
) -> None:
    make(store_path)  # type: ignore[operator]
    before = store_path.read_bytes()
    with pytest.raises(StoreError) as refused:
        threadline.instrument(integrations=[])
    message = str(refused.value)
    assert str(store_path) in message
    assert "threadline store" in message and ("THREADLINE_DB" in message or "path" in message)
    assert store_path.read_bytes() == before  # not written to, not "repaired"


def test_a_directory_at_the_store_path_is_refused(store_path: Path) -> None:
    store_path.mkdir()
    with pytest.raises((StoreError, OSError)) as refused:
        threadline.instrument(integrations=[])
    assert str(store_path) in str(refused.value)


def test_without_instrument_a_bad_store_is_reported_and_the_app_runs(
    store_path: Path, production_mode: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Integrations used alone configure the store on first use: the app must still run, loudly."""
    caplog.set_level(logging.WARNING, logger="threadline")
    NOT_A_STORE["another application's database"](store_path)

    @threadline.observe(name="turn")
    def turn(i: int) -> int:
        return i + 1

    assert [turn(i) for i in range(3)] == [1, 2, 3]
    reported = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], StoreError)]
    assert len(reported) == 1  # logged once, with the StoreError that names the file
    assert str(store_path) in str(reported[0].exc_info[1])
    with sqlite3.connect(store_path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]


# --- permissions ------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask 022", "umask 000"])
def test_the_store_is_readable_by_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int) -> None:
    db = tmp_path / "new-dir" / "traces.db"
    monkeypatch.setenv("THREADLINE_DB", str(db))
    previous = os.umask(umask)
    try:
        threadline.instrument(integrations=[])
        threadline.observe(name="turn")(lambda: "ok")()
        assert threadline.flush(10)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    # The write-ahead log and its index hold the same data: same permissions.
    for side in (db.with_name("traces.db-wal"), db.with_name("traces.db-shm")):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, side


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_jsonl_trace_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from threadline.exporters import JSONLSpanExporter

    path = tmp_path / "spans.jsonl"
    previous = os.umask(0o022)
    try:
        threadline.instrument(exporter=JSONLSpanExporter(path), integrations=[])
        threadline.observe(name="turn")(lambda: "ok")()
        assert threadline.flush(10)
    finally:
        os.umask(previous)
    assert path.read_text().count("\n") == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- faults around the file ----------------------------------------------------------------------------


def _turns(n: int, size: int = 0) -> None:
    @threadline.observe(name="turn")
    def turn(i: int, padding: str) -> int:
        return i + 1

    for i in range(n):
        turn(i, "x" * size)


def _span_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])


def test_a_store_deleted_while_the_app_runs_is_recreated_and_nothing_is_lost_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="threadline")
    db = tmp_path / "store" / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    _turns(200)
    assert threadline.flush(30)
    for path in db.parent.iterdir():
        path.unlink()  # `rm -rf .threadline/*` while the app runs
    db.parent.rmdir()
    _turns(1500)
    assert threadline.flush(30) is True  # nothing dropped ...
    assert _span_count(db) == 1500  # ... every later span is in the new store
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "deleted or replaced" in warnings[0] and str(db) in warnings[0]


@contextlib.contextmanager
def _immutable(*paths: Path) -> Iterator[None]:
    """Make ``paths`` unwritable even for root (``chattr +i``): a read-only file or file system."""
    done: list[Path] = []
    try:
        for path in paths:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not available here (needs root on a file system that supports it)")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("where", ["file", "file system"])
def test_a_read_only_store_is_read_by_cli_and_ui_and_instrument_says_it_cannot_write(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.testclient import TestClient

    from threadline.cli import main
    from threadline.ui.app import create_app

    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    with threadline.session("chat-ro"):
        _turns(3)
    threadline.shutdown()
    locked = (db,) if where == "file" else (db, tmp_path)
    with _immutable(*locked):
        assert main(["sessions", "--db", str(db), "--json"]) == 0
        assert "chat-ro" in capsys.readouterr().out
        page = TestClient(create_app(db), base_url="http://127.0.0.1").get("/")
        assert page.status_code == 200 and "chat-ro" in page.text
        with pytest.raises(StoreError) as refused:
            threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    message = str(refused.value)
    assert "cannot write" in message and "read-only" in message and "corrupted" not in message


@pytest.mark.parametrize("version", ["0", "-1", "1.5"])
def test_a_schema_version_no_release_wrote_is_a_clear_store_error(
    store_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from threadline.cli import main

    SQLiteSpanExporter(store_path).shutdown()
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    with pytest.raises(StoreError, match=f"schema.version {re.escape(repr(version)) if version == '1.5' else version}"):
        threadline.instrument(integrations=[])
    assert main(["sessions", "--db", str(store_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("threadline: ") and "schema" in err and "Traceback" not in err


def test_a_full_disk_is_logged_once_counted_and_reported_by_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="threadline")
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    threadline.instrument(exporter=exporter, integrations=[])
    _turns(10)
    assert threadline.flush(30) is True
    assert exporter._conn is not None
    pages = exporter._conn.execute("PRAGMA page_count").fetchone()[0]
    exporter._conn.execute(f"PRAGMA max_page_count = {pages + 4}")  # the disk fills up
    _turns(2000, size=2000)
    assert threadline.flush(30) is False  # spans were dropped since the last flush
    assert dropped_spans(exporter) > 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "is full" in warnings[0].getMessage() and not warnings[0].exc_info
    assert threadline.flush(30) is True  # nothing new was lost since
