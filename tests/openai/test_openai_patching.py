"""Patches: installed once, taken back exactly, never breaking the SDK; content and secrets policy."""

from __future__ import annotations

import importlib
import logging

import openai
import wrapt
from oa_kit import API_KEY, MODEL, attrs
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import semconv as sc
from threadline.testing import capture
from threadline_openai import _integration
from threadline_openai._streams import TRACKER_ATTR

MESSAGES = [{"role": "user", "content": "Say hello in three words."}]


def _resolve(module: str, qualname: str):
    owner = importlib.import_module(module)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attr


def _current_attributes():
    return {(m, q): _resolve(m, q)[0].__dict__[_resolve(m, q)[1]] for m, q, _ in _integration.PATCHES}


def test_instrument_twice_patches_once_and_uninstrument_restores():
    import openai.lib.streaming.chat._completions
    import openai.lib.streaming.responses._responses  # noqa: F401

    originals = _current_attributes()
    assert not any(isinstance(f, wrapt.FunctionWrapper) for f in originals.values())
    threadline.instrument(integrations=["openai"], exporter=InMemorySpanExporter())
    threadline.instrument(integrations=["openai"], exporter=InMemorySpanExporter())
    for key, patched in _current_attributes().items():
        assert isinstance(patched, wrapt.FunctionWrapper), key
        assert patched.__wrapped__ is originals[key], f"{key} wrapped more than once"
    threadline.uninstrument()
    assert _current_attributes() == originals


async def test_uninstrumented_calls_are_left_alone(cassette, client):
    with capture(integrations=["openai"]) as spans:
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert TRACKER_ATTR in vars(stream)
        list(stream)
    assert len(spans.finished()) == 1
    plain = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert TRACKER_ATTR not in vars(plain)
    assert len(list(plain)) == 8
    assert len(spans.finished()) == 1


async def test_content_capture_off_keeps_tokens_and_never_records_secrets(cassette):
    client = openai.OpenAI(api_key=API_KEY, max_retries=0, default_headers={"Cookie": "session=secret-cookie"})
    with capture(integrations=["openai"], capture_content=False) as spans:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
    for name in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES):
        assert name not in a
    text = repr(a)
    assert API_KEY not in text and "secret-cookie" not in text and "Bearer" not in text


async def test_a_missing_sdk_method_is_skipped_not_fatal(cassette, client, monkeypatch, caplog):
    bogus = ("openai._streaming", "Stream.method_from_another_sdk_version", _integration.PATCHES[0][2])
    monkeypatch.setattr(_integration, "PATCHES", (*_integration.PATCHES, bogus))
    with caplog.at_level(logging.WARNING, logger="threadline"):
        with capture(integrations=["openai"]) as spans:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "Stream.method_from_another_sdk_version" in caplog.text
    assert attrs(spans.one(f"chat {MODEL}"))[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
