"""``examples/openai_conversation.py`` runs offline under its cassette and lands as one session."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.kit import run_script
from threadline import semconv as sc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "openai_conversation.py"
CASSETTE = ROOT / "cassettes" / "openai" / "test_examples_openai" / "test_openai_conversation_example.yaml"
CONVERSATION = "conv_6864a0b1c2d38190a1b2c3d4e5f6a7b80d1e2f3a4b5c6d7e"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")

RUN_UNDER_CASSETTE = """
import runpy, sys, vcr
with vcr.VCR(record_mode="none", match_on={match_on!r}).use_cassette({cassette!r}):
    runpy.run_path({example!r}, run_name="__main__")
"""


def test_openai_conversation_example_in_process(capsys):
    import vcr

    spec = importlib.util.spec_from_file_location("openai_conversation_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exporter = InMemorySpanExporter()
    with vcr.VCR(record_mode="none", match_on=MATCH_ON).use_cassette(str(CASSETTE)) as cass:
        session = module.main(exporter=exporter)
    assert cass.all_played
    assert session == CONVERSATION

    out = capsys.readouterr().out
    assert "assistant: You're welcome! Have a great day." in out
    spans = [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(sc.INTEGRATION) == "openai"]
    assert len(spans) == 4  # the conversation's creation and three turns
    assert len({s.context.trace_id for s in spans}) == 4
    assert {s.attributes[sc.SESSION_ID] for s in spans} == {CONVERSATION}
    turns = [s for s in spans if s.attributes.get(sc.SPAN_KIND) == "model"]
    assert sum(s.attributes[sc.GEN_AI_USAGE_TOTAL_TOKENS] for s in turns) == 66 + 120 + 145
    assert turns[-1].attributes[sc.END_REASON] == "completed"
    assert all(s.attributes[sc.GEN_AI_USAGE_COST] > 0 for s in turns)


def test_openai_conversation_example_as_a_script(tmp_path):
    if importlib.util.find_spec("threadline.exporters.sqlite") is None:
        pytest.skip("the SQLite store (threadline.exporters.sqlite), the example's default exporter, is not built yet")
    code = RUN_UNDER_CASSETTE.format(match_on=MATCH_ON, cassette=str(CASSETTE), example=str(EXAMPLE))
    done, db = run_script(["-c", code], tmp_path)
    assert f"session: {CONVERSATION}" in done.stdout
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        found = 0
        for table in tables:
            for column in [r[1] for r in conn.execute(f"pragma table_info('{table}')")]:
                found += conn.execute(
                    f"select count(*) from '{table}' where cast(\"{column}\" as text) like ?", (f"%{CONVERSATION}%",)
                ).fetchone()[0]
    assert found > 0, "the example's session is not in the store"
