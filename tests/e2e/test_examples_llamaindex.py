"""``examples/llamaindex_chat.py`` runs offline and leaves its session in the store."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.kit import run_script

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llamaindex_chat.py"
PYTHON = sys.executable


def test_llamaindex_chat_example(tmp_path):
    if importlib.util.find_spec("threadline.exporters.sqlite") is None:
        pytest.skip("the SQLite store (threadline.exporters.sqlite), the example's default exporter, is not built yet")
    done, db = run_script([str(EXAMPLE)], tmp_path, PYTHON)
    assert "assistant: Refunds are issued within 14 days" in done.stdout
    assert "assistant: Orders over 50 EUR ship for free within the EU." in done.stdout
    assert db.exists()
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        found = 0
        for table in tables:
            columns = [r[1] for r in conn.execute(f"pragma table_info('{table}')")]
            for column in columns:
                found += conn.execute(
                    f"select count(*) from '{table}' where cast(\"{column}\" as text) like '%llamaindex-demo-chat%'"
                ).fetchone()[0]
    assert found > 0, "the example's session is not in the store"
