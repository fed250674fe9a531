"""Hostile inputs and outputs: every span is kept, content is capped, the user's values pass untouched.

Non-serialisable and cyclic objects, 10 MB strings and binary data go through
``@observe``, the OpenAI client and LlamaIndex into the real SQLite store;
odd session and user ids (empty, huge, non-ASCII, not strings) through every
place an id comes from; and a model with no known price.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from rel_kit import FakeOpenAI, echo_chat_model, needs_langchain, needs_langgraph, plain, support_graph

import threadline
from threadline import semconv as sc
from threadline.content import DEFAULT_MAX_CHARS, TRUNCATION_MARKER
from threadline.store.content import restore
from threadline.testing import capture

TEN_MB = 10 * 1024 * 1024
CONTENT_KEYS = (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE)


class Unrenderable:
    """Every way of turning it into text raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def model_dump(self) -> Any:
        raise RuntimeError("no dump for you")


def _hostile_values() -> dict[str, Any]:
    cyclic_dict: dict[str, Any] = {"name": "loop"}
    cyclic_dict["self"] = cyclic_dict
    cyclic_list: list[Any] = [1, 2]
    cyclic_list.append(cyclic_list)
    deep: list[Any] = []
    for _ in range(5000):  # deeper than the recursion limit of a naive serialiser
        deep = [deep]
    return {
        "cyclic dict": cyclic_dict,
        "cyclic list": cyclic_list,
        "deep nesting": deep,
        "unrenderable": Unrenderable(),
        "unrenderable in a dict": {"ok": 1, "bad": Unrenderable(), (1, 2): "tuple key"},
        "10 MB string": "x" * TEN_MB,
        "10 MB bytes": b"\x00\xff" * (TEN_MB // 2),
        "bytearray": bytearray(b"\x01\x02\x03"),
        "memoryview": memoryview(b"abc"),
        "non-finite floats": [float("nan"), float("inf"), float("-inf")],
        "huge dict": {f"k{i}": i for i in range(100_000)},
        "a set of objects": {object(), object()},
        "lone surrogate": "bad \ud800 text",
        "a lock": __import__("threading").Lock(),
    }


def _rows(db: Path) -> list[dict[str, Any]]:
    """Every stored span's attributes as the store gives them back (content it keeps once put back in place)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT name, session_id, attributes, content, input_tokens, output_tokens FROM spans"
        ).fetchall()
        return [
            {
                "name": name,
                "session_id": sid,
                "attributes": restore(conn, content, json.loads(attrs)),
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
            }
            for name, sid, attrs, content, tokens_in, tokens_out in rows
        ]


_START_NS = 1_700_000_000_000_000_000


class _Exploding(dict):
    """Span attributes that raise when read: a span the store cannot encode."""

    def copy(self) -> Any:
        raise RuntimeError("attributes that cannot be read")

    def __iter__(self) -> Any:
        raise RuntimeError("attributes that cannot be read")


def _finished(trace_id: int, span_id: int, name: str, attributes: Any, start: int = _START_NS) -> Any:
    """A finished span with chosen ids, attributes and start (1 ns long), handed straight to an exporter."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext

    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, is_remote=False),
        attributes=attributes,
        start_time=start,
        end_time=start + 1,
    )


def test_observe_keeps_every_span_with_hostile_inputs_and_outputs(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    from threadline.exporters.sqlite import SQLiteSpanExporter

    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    values = _hostile_values()
    for label, value in values.items():

        @threadline.observe(name=f"echo {label}")
        def echo(v: Any) -> Any:
            return v

        assert echo(value) is value  # the user's object comes back untouched
    assert threadline.flush(30)

    rows = {r["name"]: r["attributes"] for r in _rows(db)}
    assert sorted(rows) == sorted(f"echo {label}" for label in values)
    for name, attrs in rows.items():
        for key in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE):
            assert isinstance(attrs.get(key), str), f"{name}: {key} missing"
            assert len(attrs[key]) <= DEFAULT_MAX_CHARS, f"{name}: {key} not capped"
        assert attrs[sc.OUTCOME] == "ok"
    big = rows["echo 10 MB string"]
    assert big[sc.TRUNCATED] is True and big[sc.OI_OUTPUT_VALUE].endswith(TRUNCATION_MARKER)
    assert f"<{TEN_MB} bytes>" in rows["echo 10 MB bytes"][sc.OI_INPUT_VALUE]
    assert "<cycle>" in rows["echo cyclic dict"][sc.OI_INPUT_VALUE]
    assert "<cycle>" in rows["echo cyclic list"][sc.OI_INPUT_VALUE]
    assert "<unrenderable Unrenderable>" in rows["echo unrenderable"][sc.OI_INPUT_VALUE]
    assert "tuple key" in rows["echo unrenderable in a dict"][sc.OI_INPUT_VALUE]


def test_a_10_mb_prompt_and_completion_through_the_openai_client(tmp_path: Path) -> None:
    backend = FakeOpenAI(reply="r" * TEN_MB)
    client, _ = backend.clients()
    prompt = "p" * TEN_MB
    with capture(integrations=["openai"]) as spans:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert completion.choices[0].message.content == "r" * TEN_MB
    assert streamed == "r" * TEN_MB
    model_spans = spans.of_kind("model")
    assert len(model_spans) == 2
    for span in model_spans:
        attrs = dict(span.attributes or {})
        assert attrs[sc.TRUNCATED] is True
        for key in CONTENT_KEYS:
            assert len(attrs[key]) <= DEFAULT_MAX_CHARS and attrs[key].endswith(TRUNCATION_MARKER), key
        # A cut message list is no JSON: no backend gets half a message list derived from it.
        assert (
            sc.GEN_AI_INPUT_MESSAGES not in attrs and f"{sc.OI_LLM_INPUT_MESSAGES}.0.{sc.OI_MESSAGE_ROLE}" not in attrs
        )
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0  # the rest of the span is intact


def test_a_10_mb_prompt_and_binary_tool_output_through_llamaindex() -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.tools import FunctionTool

    blob = b"\x89PNG\r\n" + b"\x00" * TEN_MB

    def snapshot(path: str) -> bytes:
        """Read a binary file."""
        return blob

    prompt = "q" * TEN_MB
    with capture(integrations=["llamaindex"]) as spans:
        response = MockLLM().complete(prompt)
        tool_output = FunctionTool.from_defaults(fn=snapshot).call(path="/tmp/screen.png")
    assert response.text == prompt
    assert tool_output.raw_output is blob
    llm = spans.one("MockLLM.complete")
    for key in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE):
        assert len(llm.attributes[key]) <= DEFAULT_MAX_CHARS and llm.attributes[key].endswith(TRUNCATION_MARKER)
    (tool,) = spans.of_kind("tool")
    assert len(tool.attributes[sc.OI_OUTPUT_VALUE]) <= DEFAULT_MAX_CHARS
    assert "\x00" * 100 not in tool.attributes[sc.OI_OUTPUT_VALUE]


# --- ids ---------------------------------------------------------------------------------------------------


class Opaque:
    """An object used as an id: its repr has an address, so its text is no id."""


BAD_IDS: dict[str, Any] = {
    "huge": "s" * 10_000,
    "non-ASCII": "会話-42",
    "accented": "café-7",
    "control characters": "line\nbreak\x00",
    "int": 12345,
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "float": 3.5,
    "dict": {"a": 1},
    "object": Opaque(),
    "bytes": b"thread-1",
}
EMPTY_IDS: dict[str, Any] = {"empty": "", "blank": "   ", "None": None, "bool": True}


def _check_hinted_session(span: Any, raw: Any) -> None:
    """A session id hinted in framework metadata: none unless usable, else checked as an explicit one."""
    if raw is None or raw is True or (isinstance(raw, str) and not raw.strip()):
        assert sc.SESSION_ID not in span.attributes  # no usable id: the trace stands alone
    else:
        _check_session(span, raw)


def _check_session(span: Any, raw: Any) -> None:
    attrs = dict(span.attributes or {})
    sid = attrs[sc.SESSION_ID]
    assert isinstance(sid, str) and 0 < len(sid) < 200 and sid.isascii() and sid.isprintable(), sid
    if isinstance(raw, (str, int, uuid.UUID)) and str(raw) == sid:
        assert sc.SESSION_ID_ORIGINAL not in attrs
    else:
        assert sid.startswith("h-")
        original = attrs[sc.SESSION_ID_ORIGINAL]
        assert isinstance(original, str) and len(original) <= 1000
        if isinstance(raw, str):
            assert raw.startswith(original)


@pytest.mark.parametrize("raw", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_odd_ids_in_an_explicit_session_scope(raw: Any) -> None:
    @threadline.observe(name="turn")
    def turn() -> str:
        return "ok"

    with capture(integrations=[]) as spans:
        with threadline.session(raw, user_id=raw):
            assert turn() == "ok"
    span = spans.one("turn")
    _check_session(span, raw)
    user = span.attributes[sc.USER_ID]
    assert user == span.attributes[sc.SESSION_ID]  # the same rules, the same stable short form


@pytest.mark.parametrize("raw", EMPTY_IDS.values(), ids=EMPTY_IDS.keys())
def test_an_empty_explicit_session_id_is_refused_at_the_call(raw: Any) -> None:
    with pytest.raises(ValueError, match="non-empty session id"):
        threadline.session(raw)


JSON_IDS = {k: v for k, v in {**BAD_IDS, **EMPTY_IDS}.items() if k not in ("uuid", "object", "bytes")}


@pytest.mark.parametrize("raw", JSON_IDS.values(), ids=JSON_IDS.keys())
def test_odd_ids_in_openai_metadata(raw: Any) -> None:
    backend = FakeOpenAI()
    client, _ = backend.clients()
    with capture(integrations=["openai"]) as spans:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            metadata={"session_id": raw, "user_id": raw},
        )
    assert completion.choices[0].message.content
    span = spans.one("chat gpt-4o-mini")
    _check_hinted_session(span, raw)


@pytest.mark.parametrize("raw", {**BAD_IDS, **EMPTY_IDS}.values(), ids={**BAD_IDS, **EMPTY_IDS}.keys())
def test_odd_ids_in_llamaindex_instrument_tags(raw: Any) -> None:
    from llama_index.core.instrumentation.dispatcher import instrument_tags
    from llama_index.core.llms import MockLLM

    with capture(integrations=["llamaindex"]) as spans:
        with instrument_tags({"session_id": raw, "user_id": raw}):
            assert MockLLM().complete("hi").text == "hi"
    span = spans.one("MockLLM.complete")
    _check_hinted_session(span, raw)


def test_session_metadata_that_cannot_be_rendered_keeps_the_span() -> None:
    @threadline.observe(name="turn")
    def turn() -> str:
        return "ok"

    with capture(integrations=[]) as spans:
        with threadline.session("chat-1", metadata={"bad": Unrenderable(), "blob": "m" * TEN_MB, "n": 3}):
            assert turn() == "ok"
    attrs = spans.one("turn").attributes
    assert attrs[sc.SESSION_ID] == "chat-1"
    assert attrs[sc.METADATA_PREFIX + "n"] == 3
    assert len(attrs[sc.METADATA_PREFIX + "blob"]) <= DEFAULT_MAX_CHARS


# --- prices ------------------------------------------------------------------------------------------------


def test_a_model_without_a_price_gets_no_cost_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threadline")
    backend = FakeOpenAI(model="acme-unpriced-model-7")
    client, _ = backend.clients()
    with capture(integrations=["openai"]) as spans:
        for _ in range(3):
            client.chat.completions.create(model="acme-unpriced-model-7", messages=[{"role": "user", "content": "hi"}])
        list(
            client.chat.completions.create(
                model="acme-unpriced-model-7", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        backend.model = "gpt-4o-mini-2024-07-18"
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    *model_spans, priced = sorted(spans.of_kind("model"), key=lambda s: s.start_time or 0)
    assert len(model_spans) == 4
    assert priced.attributes[sc.GEN_AI_USAGE_COST] > 0  # the control: a known model is priced
    for span in model_spans:
        assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0  # tokens are still recorded
        assert sc.GEN_AI_USAGE_COST not in span.attributes  # never a made-up 0
        assert sc.OI_LLM_COST_TOTAL not in span.attributes
    warnings = [r for r in caplog.records if "no price known" in r.getMessage()]
    assert len(warnings) == 1 and "acme-unpriced-model-7" in warnings[0].getMessage()


# --- LangChain and LangGraph --------------------------------------------------------------------------------------


def _outcome(run: Any) -> tuple[Any, ...]:
    """What the user sees: the result, or the exception's type and text (the framework's own verdict)."""
    try:
        return ("returned", plain(run()))
    except Exception as exc:  # noqa: BLE001 - compared with the uninstrumented run
        return ("raised", type(exc), str(exc))


ALL_IDS = {**BAD_IDS, **EMPTY_IDS}


@needs_langgraph
@pytest.mark.parametrize("raw", ALL_IDS.values(), ids=ALL_IDS.keys())
def test_odd_langgraph_thread_ids(raw: Any) -> None:
    def run() -> Any:
        graph = support_graph(echo_chat_model())
        return graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": raw}})

    baseline = _outcome(run)
    with capture(integrations=["langgraph"]) as spans:
        observed = _outcome(run)
    assert observed == baseline  # whatever LangGraph makes of the id, threadline changes nothing
    if baseline[0] == "raised":
        return
    roots = spans.roots()
    assert [r.name for r in roots] == ["support"] and len(spans.finished()) >= 4
    for span in spans.finished():
        _check_hinted_session(span, raw)


@needs_langchain
@pytest.mark.parametrize("raw", ALL_IDS.values(), ids=ALL_IDS.keys())
def test_odd_ids_in_langchain_run_metadata(raw: Any) -> None:
    llm = echo_chat_model()
    with capture(integrations=["langchain"]) as spans:
        reply = llm.invoke("hi", config={"metadata": {"session_id": raw, "user_id": raw}})
    assert reply.content == "answer to hi"
    span = spans.one("chat gpt-4o-mini")
    _check_hinted_session(span, raw)


def _echo_graph() -> Any:
    from typing import TypedDict

    from scenarios.langgraph_apps import linear_graph

    State = TypedDict("State", {"payload": Any, "echo": Any}, total=False)  # noqa: UP013

    def echo(state: State) -> dict[str, Any]:
        return {"echo": state["payload"]}

    return linear_graph(State, [echo])  # no checkpointer: it would refuse unserialisable state itself


GRAPH_STATES = {
    "10 MB string": lambda: "x" * TEN_MB,
    "binary": lambda: b"\x00\xff" * (TEN_MB // 2),
    "unrenderable": Unrenderable,
    "cyclic dict": lambda: _hostile_values()["cyclic dict"],
    "non-finite floats": lambda: [float("nan"), float("inf")],
}


@needs_langgraph
@pytest.mark.parametrize("make", GRAPH_STATES.values(), ids=GRAPH_STATES.keys())
def test_hostile_langgraph_state(make: Any) -> None:
    payload = make()

    def run() -> Any:
        out = _echo_graph().invoke({"payload": payload}, {"metadata": {"thread_id": "t-hostile"}})
        return out["echo"] is payload  # the user's object comes back untouched

    with capture(integrations=["langgraph"]) as spans:
        assert run() is True
    assert {s.name for s in spans.finished()} >= {"LangGraph", "echo"}
    for span in spans.finished():
        for key in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE):
            value = span.attributes.get(key)
            assert value is None or len(value) <= DEFAULT_MAX_CHARS, (span.name, key)


def test_numbers_beyond_64_bits_lose_one_span_or_one_column_never_the_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A count too big for SQLite is left out of its column; a span time too big drops that span, counted."""
    from opentelemetry.sdk.trace import TracerProvider

    from threadline.exporters._safe import dropped_spans
    from threadline.exporters.sqlite import SQLiteSpanExporter

    db = tmp_path / "traces.db"
    provider = TracerProvider()  # the application's own spans, exported by threadline's pipeline
    threadline.instrument(exporter=SQLiteSpanExporter(db), tracer_provider=provider, integrations=[])
    tracer = provider.get_tracer("user-code")
    dropped = dropped_spans()
    with caplog.at_level(logging.WARNING, logger="threadline"):
        for i in range(3):
            with tracer.start_as_current_span(f"big count {i}") as span:
                span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, 2**80)  # a provider's nonsense, say
                span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 7)
            tracer.start_span(f"far future {i}", start_time=2**70).end(end_time=2**70 + 1)
            with tracer.start_as_current_span(f"plain {i}"):
                pass
        assert threadline.flush(30) is False  # spans were dropped since the last flush: said so
    assert dropped_spans() - dropped == 3
    rows = {r["name"]: r for r in _rows(db)}
    assert sorted(rows) == sorted([f"big count {i}" for i in range(3)] + [f"plain {i}" for i in range(3)])
    assert rows["big count 0"]["input_tokens"] is None and rows["big count 0"]["output_tokens"] == 7
    assert rows["big count 0"]["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 2**80  # the raw value is kept
    said = [r.getMessage() for r in caplog.records if "beyond 64 bits" in r.getMessage()]
    assert len(said) == 1, said  # logged once, then counted


def test_a_span_the_store_cannot_encode_is_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    from threadline.exporters._safe import SafeSpanExporter
    from threadline.exporters.sqlite import SQLiteSpanExporter

    def span(i: int, attributes: Any) -> ReadableSpan:
        return _finished(0xAB + i, 1, f"span {i}", attributes)

    score = {
        sc.SCORE_NAME: "helpful",
        sc.SCORE_VALUE: True,
        sc.SCORE_DATA_TYPE: sc.SCORE_BOOLEAN,
        sc.SCORE_TARGET_KIND: sc.TARGET_TRACE,
        sc.SCORE_TARGET_ID: format(0xAB, "032x"),
    }
    db = tmp_path / "traces.db"
    safe = SafeSpanExporter(SQLiteSpanExporter(db))
    with caplog.at_level(logging.WARNING, logger="threadline"):
        for round_ in range(2):
            scored = ReadableSpan(name=sc.SCORE_SPAN_NAME, attributes=score, start_time=1, end_time=2)
            safe.export([span(2 * round_, {"k": "v"}), span(2 * round_ + 1, _Exploding(k="v")), scored])
    assert safe.dropped_spans == 2  # the score spans in the same batches do not hide a loss
    assert sorted(r["name"] for r in _rows(db)) == ["span 0", "span 2"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (2,)
    said = [r for r in caplog.records if "could not encode" in r.getMessage()]
    assert len(said) == 1  # the first time, with its traceback; then counted
    safe.shutdown()


def test_sums_beyond_64_bits_and_mixed_faults_keep_the_other_spans(tmp_path: Path) -> None:
    """Counts that fit alone but overflow a rollup's sum, and a bad text beside a bad time in one batch."""
    from opentelemetry.sdk.trace import ReadableSpan

    from threadline.exporters._safe import SafeSpanExporter
    from threadline.exporters.sqlite import SQLiteSpanExporter

    def span(trace: int, sid: int, start: int = _START_NS, **attributes: Any) -> ReadableSpan:
        return _finished(trace, sid, f"span {trace}.{sid}", {sc.SESSION_ID: "s", **attributes}, start)

    db = tmp_path / "traces.db"
    safe = SafeSpanExporter(SQLiteSpanExporter(db))
    huge = {sc.GEN_AI_USAGE_INPUT_TOKENS: 2**62, sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3}
    safe.export([span(1, 1, **huge), span(1, 2, **huge), span(2, 1)])  # two counts whose sum overflows
    safe.export([span(3, 1, **{"text": "lone \ud800 surrogate"}), span(3, 2, start=2**70), span(3, 3)])
    assert safe.dropped_spans == 1  # only the span with a time beyond 64 bits
    names = sorted(r["name"] for r in _rows(db))
    assert names == ["span 1.1", "span 1.2", "span 2.1", "span 3.1", "span 3.3"]
    with sqlite3.connect(db) as conn:
        # A count no provider reports is left out of the columns and the sums (kept in the attributes).
        assert conn.execute(
            "SELECT input_tokens, output_tokens FROM traces WHERE trace_id = ?", (format(1, "032x"),)
        ).fetchone() == (None, 6)
    safe.shutdown()


def test_drops_before_instrument_do_not_fail_the_new_pipelines_flush(tmp_path: Path) -> None:
    from threadline.exporters._safe import SafeSpanExporter, count_dropped
    from threadline.exporters.sqlite import SQLiteSpanExporter

    elsewhere = SafeSpanExporter(SQLiteSpanExporter(tmp_path / "other.db"))
    count_dropped(elsewhere.exporter, 5, "a loss before this pipeline existed")
    assert elsewhere.dropped_spans == 5
    threadline.instrument(exporter=SQLiteSpanExporter(tmp_path / "traces.db"), integrations=[])

    @threadline.observe(name="fine")
    def fine() -> int:
        return 1

    fine()
    assert threadline.flush(30) is True
    elsewhere.shutdown()


def test_instrument_called_again_keeps_the_drops_flush_has_not_reported(tmp_path: Path) -> None:
    from threadline.exporters._safe import count_dropped
    from threadline.exporters.sqlite import SQLiteSpanExporter

    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    threadline.instrument(exporter=exporter, integrations=[])
    count_dropped(exporter, 2, "a loss in this pipeline")
    threadline.instrument(exporter=exporter, integrations=[])  # the same pipeline, kept
    assert threadline.flush(30) is False
    assert threadline.flush(30) is True


def test_one_odd_span_never_costs_the_batch(tmp_path: Path) -> None:
    """A span that cannot be encoded beside one with a lone surrogate; JSON nested beyond Python's recursion."""
    from opentelemetry.sdk.trace import ReadableSpan

    from threadline.exporters._safe import SafeSpanExporter
    from threadline.exporters.sqlite import SQLiteSpanExporter

    def span(trace: int, attributes: Any) -> ReadableSpan:
        return _finished(trace, 1, f"span {trace}", attributes)

    deep = "[" * 5000 + "]" * 5000
    deep_messages = '[{"role": "user", "content": ' + "[" * 5000 + "]" * 5000 + "}]"
    db = tmp_path / "traces.db"
    safe = SafeSpanExporter(SQLiteSpanExporter(db))
    safe.export([span(1, _Exploding(k="v")), span(2, {"text": "lone \ud800 surrogate"}), span(3, {})])
    safe.export([span(4, {sc.OI_INPUT_VALUE: deep}), span(5, {sc.GEN_AI_INPUT_MESSAGES: deep_messages}), span(6, {})])
    assert safe.dropped_spans == 1  # the span that could not be encoded, once
    rows = {r["name"]: r for r in _rows(db)}
    assert sorted(rows) == ["span 2", "span 3", "span 4", "span 5", "span 6"]
    assert rows["span 4"]["attributes"][sc.OI_INPUT_VALUE] == deep  # stored whole, only not searchable
    assert rows["span 5"]["attributes"][sc.GEN_AI_INPUT_MESSAGES] == deep_messages
    safe.shutdown()
