"""Session columns hosted tracers show: environment, tags, metadata, per-model usage, cost split, scores, raw ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import threadline
from threadline import semconv as sc
from threadline.cli import main
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.store import queries
from threadline.store.scores import add_score
from threadline.usage import Usage

RAW_ID = "café-conversation ✓ 42"  # not printable ASCII: stored under its short h-... form


def _call(model: str, inputs: int, outputs: int) -> None:
    emitter = current_emitter()
    call = emitter.start(ModelCall(name="chat", provider="openai", request_model=model, inputs="hi"))
    call.record.usage = Usage(input_tokens=inputs, output_tokens=outputs)
    emitter.end(call)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "traces.db"
    provider = TracerProvider(resource=Resource.create({sc.DEPLOYMENT_ENVIRONMENT: "staging"}))
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(path)))
    threadline.instrument(tracer_provider=provider, integrations=[])
    with threadline.session("chat-a", user_id="u-1", tags=["support"], metadata={"plan": "free"}):
        _call("gpt-4o-mini", 1000, 100)
    with threadline.session("chat-a", user_id="u-1", tags=["refund"], metadata={"plan": "pro"}):
        _call("gpt-4o", 2000, 200)
        _call("gpt-4o-mini", 10, 1)
    with threadline.session(RAW_ID):
        _call("gpt-4o-mini", 5, 5)
    return path


def test_sessions_carry_environment_tags_metadata_and_usage_by_model(db: Path) -> None:
    s = {s.session_id: s for s in queries.list_sessions(db)}["chat-a"]
    assert s.environment == "staging"
    assert s.tags == ("refund", "support")  # the union over its traces
    assert s.metadata == {"plan": "pro"}  # the latest trace's
    assert s.total_tokens == 1000 + 100 + 2000 + 200 + 10 + 1
    by_model = {m.model: m for m in s.model_usage}
    assert (by_model["gpt-4o-mini"].calls, by_model["gpt-4o-mini"].input_tokens) == (2, 1010)
    assert (by_model["gpt-4o"].calls, by_model["gpt-4o"].output_tokens) == (1, 200)
    assert s.cost_input_usd is not None and s.cost_output_usd is not None
    assert s.cost_input_usd + s.cost_output_usd == pytest.approx(s.cost_usd)
    assert sum(m.cost_usd for m in s.model_usage) == pytest.approx(s.cost_usd)


def test_scores_are_aggregated_per_session(db: Path) -> None:
    add_score(db, "helpful", 1, session_id="chat-a", comment="solved it", source="cli", author="ada")
    add_score(db, "helpful", 0, session_id="chat-a")
    add_score(db, "helpful", True, session_id="chat-a")
    add_score(db, "sentiment", "happy", session_id="chat-a")
    add_score(db, "sentiment", "happy", session_id="chat-a")
    add_score(db, "sentiment", "angry", session_id="chat-a")
    s = {s.session_id: s for s in queries.list_sessions(db)}["chat-a"]
    scores = {x.name: x for x in s.scores}
    assert scores["helpful"].count == 3 and scores["helpful"].mean == pytest.approx(2 / 3)
    assert scores["sentiment"].categories == {"happy": 2, "angry": 1}
    with pytest.raises(ValueError, match="exactly one"):
        add_score(db, "helpful", 1)
    with pytest.raises(ValueError, match="finite number"):
        add_score(db, "helpful", float("nan"), session_id="chat-a")


def test_json_and_filters_in_the_cli(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--db", str(db), "--json", "--tag", "support"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["session_id"] == "chat-a" and row["environment"] == "staging" and row["tags"] == ["refund", "support"]
    assert {m["model"] for m in row["model_usage"]} == {"gpt-4o", "gpt-4o-mini"}
    assert {"total_tokens", "cost_input_usd", "cost_output_usd", "scores", "metadata"} <= set(row)
    assert main(["sessions", "--db", str(db), "--json", "--environment", "production"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_session_is_found_by_the_raw_id_the_user_knows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = next(s for s in queries.list_sessions(db) if s.session_id != "chat-a")
    assert stored.session_id != RAW_ID and stored.original_id == RAW_ID
    detail = queries.get_session(db, RAW_ID)
    assert detail is not None and detail.summary.session_id == stored.session_id
    assert main(["session", RAW_ID, "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session"]["session_id"] == stored.session_id


def test_environment_and_tags_are_columns_of_the_sessions_table(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    assert main(["sessions", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Env" in lines[0].split() and "Tags" in lines[0].split()
    row = next(line for line in lines if line.startswith("chat-a"))
    assert "staging" in row and "refund, support" in row
    monkeypatch.setenv("COLUMNS", "100")  # narrow: a line under the session id
    assert main(["sessions", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "staging · refund, support" in out


def test_the_web_view_shows_and_filters_by_environment_and_tag(db: Path) -> None:
    from starlette.testclient import TestClient

    from threadline.ui.app import create_app

    client = TestClient(create_app(db), base_url="http://127.0.0.1:8000")
    page = client.get("/")
    assert page.status_code == 200
    headings = [h.strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", page.text, re.S)]
    assert "Environment" in headings and "Tags" in headings
    assert "staging" in page.text and "refund, support" in page.text
    for query, shown in (("environment=staging", 2), ("tag=refund", 1), ("tag=support&environment=staging", 1)):
        page = client.get("/?" + query)
        assert page.status_code == 200 and 'href="/sessions/chat-a"' in page.text, query
        assert page.text.count('<td class="sid">') == shown, query
        assert "Clear filters" in page.text
    for query in ("tag=billing", "environment=production"):
        page = client.get("/?" + query)
        assert page.status_code == 200 and '<td class="sid">' not in page.text and "No sessions match" in page.text
    page = client.get("/?environment=" + "x" * 201)
    assert page.status_code == 400 and "environment: at most 200 characters" in page.text
    page = client.get("/?tag=a%1bb")
    assert page.status_code == 400 and "tag: " in page.text and "control characters" in page.text


def test_one_session_shows_its_environment_tags_and_latest_metadata(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from threadline.ui.app import create_app

    monkeypatch.setenv("COLUMNS", "160")
    assert main(["session", "chat-a", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert 'environment: staging · tags: refund, support · metadata: {"plan": "pro"}' in out
    page = TestClient(create_app(db), base_url="http://127.0.0.1:8000").get("/sessions/chat-a")
    assert page.status_code == 200
    assert re.search(r'id="session-metadata".*?plan=pro', page.text, re.S)
    assert "staging" in page.text and "refund" in page.text and "support" in page.text
