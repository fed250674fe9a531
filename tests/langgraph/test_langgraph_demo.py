"""The demo (``threadline demo``): one session, four traces, a pause and its resume, real cost."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import StatusCode

from tests.kit import attrs, parent_of
from threadline import _runtime
from threadline import semconv as sc
from threadline.testing import capture
from threadline_langgraph import demo

# gpt-4o-mini, USD per million tokens: input, cached input, output.
RATES = (0.15, 0.075, 0.60)


def test_the_demo_records_one_conversation_with_a_pause_and_its_resume() -> None:
    with capture(integrations=["langchain", "langgraph"]) as spans:
        sessions = demo.run("support-test")
    assert sessions == ["support-test"]

    roots = spans.roots()
    assert [r.name for r in roots] == ["support_agent"] * 4
    assert [attrs(r)[sc.OUTCOME] for r in roots] == ["ok", "interrupted", "ok", "ok"]
    assert [attrs(r).get(sc.RESUME, False) for r in roots] == [False, False, True, False]
    first, paused, resumed, last = roots
    assert attrs(first)[sc.OI_INPUT_VALUE] == demo.TURNS[0]
    assert "delivered by UPS" in attrs(first)[sc.OI_OUTPUT_VALUE]
    assert json.loads(attrs(paused)[sc.INTERRUPT_VALUES])[0]["question"] == "Approve this refund?"
    assert resumed.links[0].context.span_id == paused.context.span_id
    assert json.loads(attrs(resumed)[sc.RESUME_VALUE]) == demo.APPROVAL
    assert "refund of $189.00" in attrs(resumed)[sc.OI_OUTPUT_VALUE]
    assert attrs(last)[sc.OI_OUTPUT_VALUE].startswith("You're welcome")

    for span in spans.finished():
        a = attrs(span)
        assert a[sc.SESSION_ID] == "support-test", span.name
        assert a[sc.USER_ID] == demo.CUSTOMER, span.name
        assert span.status.status_code is not StatusCode.ERROR, span.name

    tools = sorted(s.name for s in spans.of_kind("tool"))
    assert tools == ["execute_tool issue_refund", "execute_tool lookup_order"]
    assert parent_of(spans, spans.one("execute_tool issue_refund")).context.trace_id == resumed.context.trace_id

    models = spans.of_kind("model")
    assert len(models) == 5
    cost = 0.0
    for span in models:
        a = attrs(span)
        assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
        assert a[sc.GEN_AI_RESPONSE_MODEL] == demo.RESPONSE_MODEL
        assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
        prompt, cached, out = (
            a[sc.GEN_AI_USAGE_INPUT_TOKENS],
            a.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0),
            a[sc.GEN_AI_USAGE_OUTPUT_TOKENS],
        )
        expected = ((prompt - cached) * RATES[0] + cached * RATES[1] + out * RATES[2]) / 1e6
        assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected, rel=1e-9)
        cost += a[sc.GEN_AI_USAGE_COST]
    assert sum(attrs(s).get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) for s in models) == 4 * 1152
    assert 0.0005 < cost < 0.001


def test_run_does_not_instrument() -> None:
    assert _runtime.state.integrations == {}
    demo.run("support-quiet")
    assert _runtime.state.integrations == {}
