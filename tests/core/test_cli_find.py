"""``threadline search`` and ``threadline stats`` (and the store reads behind them) over real core data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from threadline import cli
from threadline.store import stats

sys.path.insert(0, str(Path(__file__).parents[1] / "ui"))
import ui_kit  # noqa: E402
from ui_kit import support_fixture  # noqa: E402, F401 - the `support` fixture

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import WIDTH, _plain_terminal, run  # noqa: E402, F401 - _plain_terminal is an autouse fixture

# --- search -------------------------------------------------------------------------------------


def test_search_lists_the_matching_traces_with_their_snippets(support: ui_kit.Support, capsys) -> None:
    code, out, err = run(capsys, "search", "refund", "--db", str(support.db))
    assert code == 0 and err == ""
    assert support.trace_ids["turn4"][:16] in out and support.trace_ids["turn3"][:16] in out
    assert support.trace_ids["sales"][:16] not in out
    assert "yes, refund it" in out and "interrupted" in out and "resumed" in out
    assert "2 matching traces" in out
    assert "\x1b[" not in out


def test_search_json_and_within_a_session(support: ui_kit.Support, capsys) -> None:
    code, out, _ = run(capsys, "search", "1234", "--session", "support-1", "--json", "--db", str(support.db))
    assert code == 0
    hits = json.loads(out)
    ids = support.trace_ids
    assert [h["trace_id"] for h in hits] == [ids["turn4"], ids["turn3"], ids["turn2"]]
    assert hits[0]["snippet"] == "Refunded 40 EUR to order [1234]."
    assert {h["session_id"] for h in hits} == {"support-1"}
    code, out, _ = run(capsys, "search", "refund", "--session", "sales-2", "--db", str(support.db))
    assert code == 0 and "No traces" in out


def test_search_with_bad_syntax_says_what_to_type(support: ui_kit.Support, capsys) -> None:
    code, out, err = run(capsys, "search", "order 1234?", "--db", str(support.db))
    assert code == 1 and out == ""
    assert err.startswith("threadline: cannot search for 'order 1234?'") and "double quotes" in err
    assert "Traceback" not in err


def test_search_output_is_inert_in_a_terminal(tmp_path: Path, capsys) -> None:
    db = tmp_path / "traces.db"
    ui_kit.record_hostile(db, capture=True)
    code, out, _ = run(capsys, "search", "alert", "--db", str(db))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold]markup[/bold]" in out  # Rich markup printed as the text it is
    assert "[31mred" in out  # the escape character dropped, its text shown


# --- stats --------------------------------------------------------------------------------------


def test_stats_sum_the_trace_rollups(support: ui_kit.Support) -> None:
    result = stats.usage_stats(support.db, by="hour")
    t = result.total
    assert (t.traces, t.errors, t.interrupted) == (6, 1, 1)  # 4 support turns, the sales turn, the lone job
    assert sum(b.traces for b in result.buckets) == 6
    assert t.cost_usd == pytest.approx(support.support_cost + support.sales_cost, rel=1e-9)
    by_model = {m.model: m for m in result.models}
    assert set(by_model) == {"gpt-4o-mini-2024-07-18", "o3-mini", ui_kit.SONNET}
    assert (by_model["o3-mini"].input_tokens, by_model["o3-mini"].output_tokens) == (400, 600)
    assert by_model[ui_kit.SONNET].total_tokens == 2900
    assert result.models[0].model == ui_kit.SONNET  # costliest first
    # Turn durations 2.4, 1.3, 0.8, 4.0 s (support), 1.6 s (sales), 1.0 s (the job).
    assert t.latency_p50_ms == pytest.approx(1450.0)
    assert t.latency_p95_ms == pytest.approx(3600.0)
    assert t.ttft_p50_ms == pytest.approx(675.0)  # the streamed calls: 350 and 1,000 ms


def test_stats_window_and_empty_buckets(support: ui_kit.Support) -> None:
    assert stats.usage_stats(support.db, since=support.base_ns + 200 * ui_kit.S).total.traces == 2  # turn 4, the job
    assert stats.usage_stats(support.db, until=support.base_ns - 1).total.traces == 0
    with pytest.raises(ValueError, match="cannot group by"):
        stats.usage_stats(support.db, by="week")


def test_stats_cli_table_and_json(support: ui_kit.Support, capsys) -> None:
    code, out, _ = run(capsys, "stats", "--json", "--db", str(support.db))
    assert code == 0
    data = json.loads(out)
    assert data["total"]["traces"] == 6 and data["total"]["errors"] == 1
    assert data["total"]["cost_usd"] == pytest.approx(support.support_cost + support.sales_cost, rel=1e-9)
    code, out, _ = run(capsys, "stats", "--by", "model", "--db", str(support.db))
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert cli.fmt_cost(support.sales_cost) in lines[ui_kit.SONNET]
    assert "2,900" in lines[ui_kit.SONNET]
    code, out, _ = run(capsys, "stats", "--since", "-1d", "--db", str(support.db))
    assert code == 0 and "TTFT p50" in out and "675 ms" in out
    assert all(len(line) <= WIDTH for line in out.splitlines())
    code, out, err = run(capsys, "stats", "--since", "yesterday-ish", "--db", str(support.db))
    assert code == 1 and "--since: cannot read the time" in err
