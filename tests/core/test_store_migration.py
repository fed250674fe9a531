"""A store written by the previous release (schema v1) upgrades in place on first open, nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import SCHEMA_VERSION, open_store, queries, rollup_check

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import same as _same  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    db = tmp_path / "traces.db"
    shutil.copyfile(FIXTURES / "store_v1.db", db)
    return db


def _expected() -> dict[str, Any]:
    return json.loads((FIXTURES / "store_v1_expected.json").read_text())


def test_the_fixture_is_a_v1_store() -> None:
    with sqlite3.connect(FIXTURES / "store_v1.db") as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == "1"
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 81


def test_a_v1_store_upgrades_on_first_open_and_reads_the_same(v1_store: Path) -> None:
    expected = _expected()
    conn = open_store(v1_store, create=False)
    try:
        assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 81  # nothing lost
        assert conn.execute("SELECT count(*) FROM traces").fetchone()[0] == len(expected["traces"])
        assert rollup_check.differences(conn) == []  # rollups back-filled
    finally:
        conn.close()

    sessions = [s.to_dict() for s in queries.list_sessions(v1_store, limit=None, order_by="session_id")]
    assert _same(expected["sessions"], sessions) == []  # every session's totals, column by column
    traces = [t.to_dict() for t in queries.list_traces(v1_store, limit=None, order_by="trace_id")]
    assert _same(expected["traces"], traces) == []
    for session_id, detail in expected["session_details"].items():
        replay = queries.get_session(v1_store, session_id)
        assert replay is not None
        assert _same(detail, replay.to_dict(), session_id) == []


def test_an_app_that_opens_it_first_upgrades_it(v1_store: Path) -> None:
    exporter = SQLiteSpanExporter(v1_store)  # the first open is the exporter's: it migrates
    exporter.shutdown()
    expected = {s["session_id"]: s for s in _expected()["sessions"]}
    after = {s.session_id: s.to_dict() for s in queries.list_sessions(v1_store, limit=None)}
    assert sorted(after) == sorted(expected)
    assert _same(expected, after) == []
