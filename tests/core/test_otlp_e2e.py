"""End to end over OTLP/HTTP: a real receiver on 127.0.0.1 decodes what the official exporter sends."""

from __future__ import annotations

import gzip
import http.server
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from opentelemetry import context as otel_context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import threadline
from threadline import semconv as sc
from threadline.exporters import otlp_exporter
from threadline.exporters.otlp import _traces_url
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.usage import Usage


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, request))
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, which) if which else None


def _received_spans(server: _Receiver) -> dict[str, dict[str, Any]]:
    spans: dict[str, dict[str, Any]] = {}
    for _path, _headers, request in server.requests:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans[span.name] = {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                    }
    return spans


def test_session_tokens_and_cost_arrive_over_otlp(receiver: _Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NO_PROXY", "no_proxy"):  # a proxy configured on the machine must not catch 127.0.0.1
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    threadline.instrument(
        exporter=otlp_exporter(endpoint=receiver.url, headers={"x-team": "llm-apps"}),
        integrations=[],
    )
    emitter = current_emitter()
    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024)
    hello = [{"role": "user", "content": "hello"}]
    with threadline.session("chat-otlp-1", user_id="user-7", tags=["support"], metadata={"plan": "pro"}):
        turn = emitter.start(Run(name="handle-turn", run_kind=SpanKind.OBSERVE))
        call = emitter.start(
            ModelCall(name="chat", integration="test", provider="openai", request_model="gpt-4o-mini", inputs=hello),
            parent=turn,
        )
        call.record.response_model = "gpt-4o-mini-2024-07-18"
        call.record.outputs = [{"role": "assistant", "content": "hi!"}]
        call.record.usage = usage
        emitter.end(call)
        emitter.end(turn)

    assert threadline.flush(10)

    assert receiver.requests, "the receiver got nothing"
    path, headers, _ = receiver.requests[0]
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-team"] == "llm-apps"

    spans = _received_spans(receiver)
    assert set(spans) == {"handle-turn", "chat gpt-4o-mini"}
    root, model = spans["handle-turn"], spans["chat gpt-4o-mini"]
    assert model["trace_id"] == root["trace_id"]
    assert model["parent"] == root["span_id"]
    for span in (root, model):
        attrs = span["attributes"]
        assert attrs[sc.SESSION_ID] == "chat-otlp-1"
        assert attrs[sc.GEN_AI_CONVERSATION_ID] == "chat-otlp-1"
        assert attrs[sc.USER_ID] == "user-7"
        assert attrs[sc.TAGS] == ["support"]
        assert attrs[sc.METADATA_PREFIX + "plan"] == "pro"

    attrs = model["attributes"]
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 300
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert attrs[sc.OI_LLM_TOKEN_COUNT_PROMPT] == 1200
    assert attrs[sc.OI_LLM_TOKEN_COUNT_COMPLETION] == 300
    assert attrs[sc.OI_SPAN_KIND] == sc.OI_KIND_LLM

    expected = calc_price(
        PriceUsage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024),
        "gpt-4o-mini-2024-07-18",
        provider_id="openai",
    )
    assert attrs[sc.GEN_AI_USAGE_COST] == pytest.approx(float(expected.total_price), abs=1e-12)
    assert attrs[sc.OI_LLM_COST_TOTAL] == pytest.approx(float(expected.total_price), abs=1e-12)
    assert sc.GEN_AI_USAGE_COST not in root["attributes"]


def test_endpoint_gets_the_traces_path_only_when_it_has_none() -> None:
    assert _traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert _traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert _traces_url("http://localhost:6006/v1/traces") == "http://localhost:6006/v1/traces"
    assert _traces_url("https://cloud.langfuse.com/api/public/otel/v1/traces") == (
        "https://cloud.langfuse.com/api/public/otel/v1/traces"
    )


def test_missing_otlp_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ImportError, match=r"threadline\[otlp\]"):
        otlp_exporter("http://127.0.0.1:4318")


def test_a_score_arrives_over_otlp_as_a_span_with_its_event(
    receiver: _Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    threadline.instrument(exporter=otlp_exporter(endpoint=receiver.url), integrations=[])
    emitter = current_emitter()
    with threadline.session("chat-otlp-2", user_id="user-8"):
        turn = emitter.start(Run(name="handle-turn", run_kind=SpanKind.OBSERVE))
        token = otel_context.attach(turn.context)
        try:
            threadline.score("helpful", 0.75, comment="clear answer", author="reviewer-1")
        finally:
            otel_context.detach(token)
        emitter.end(turn)
        threadline.score("verdict", "good")
    assert threadline.flush(10)

    received = [
        span
        for _path, _headers, request in receiver.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    turn_span = next(s for s in received if s.name == "handle-turn")
    on_trace, on_session = [s for s in received if s.name == sc.SCORE_SPAN_NAME]
    assert on_trace.trace_id == turn_span.trace_id and on_trace.parent_span_id == turn_span.span_id
    [event] = on_trace.events
    assert event.name == sc.EVENT_SCORE
    assert {kv.key: _value(kv.value) for kv in event.attributes} == {
        sc.SCORE_NAME: "helpful",
        sc.SCORE_VALUE: 0.75,
        sc.SCORE_DATA_TYPE: "numeric",
        sc.SCORE_COMMENT: "clear answer",
        sc.SCORE_SOURCE: "code",
        sc.SCORE_AUTHOR: "reviewer-1",
        sc.SCORE_TARGET_KIND: "trace",
        sc.SCORE_TARGET_ID: turn_span.trace_id.hex(),
    }
    span_attrs = {kv.key: _value(kv.value) for kv in on_trace.attributes}
    assert span_attrs[sc.SESSION_ID] == "chat-otlp-2" and span_attrs[sc.SCORE_NAME] == "helpful"

    assert on_session.parent_span_id == b"" and on_session.trace_id != turn_span.trace_id
    [event] = on_session.events
    attrs = {kv.key: _value(kv.value) for kv in event.attributes}
    assert (attrs[sc.SCORE_TARGET_KIND], attrs[sc.SCORE_TARGET_ID]) == ("session", "chat-otlp-2")
    assert (attrs[sc.SCORE_VALUE], attrs[sc.SCORE_DATA_TYPE]) == ("good", "categorical")
