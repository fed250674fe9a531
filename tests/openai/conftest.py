"""Fixtures for the OpenAI integration tests: spans, cassettes and clients.

Cassettes live in ``cassettes/openai/<test module>/<test function>.yaml`` and
are replayed with ``record_mode="none"`` (set ``THREADLINE_RECORD_MODE`` to
re-record with a real key, see ``cassettes/README.md``). Requests are matched
on their JSON body too, since streamed and plain calls share a URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import vcr

from threadline import guard
from threadline.testing import CapturedSpans, capture

sys.path.insert(0, os.path.dirname(__file__))

import oa_kit

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "openai"


@pytest.fixture(autouse=True)
def _fresh_openai_state() -> Iterator[None]:
    """No test sees another's response chains; no internal error goes unnoticed."""
    from threadline_openai._sessions import chains

    chains.clear()
    before = guard.failure_count
    yield
    chains.clear()
    assert guard.failure_count == before, "threadline reported an internal error (see the log)"


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    """Capture the spans of the OpenAI integration alone."""
    with capture(integrations=["openai"]) as captured:
        yield captured


def make_vcr() -> vcr.VCR:
    return vcr.VCR(
        record_mode=os.environ.get("THREADLINE_RECORD_MODE", "none"),
        match_on=("method", "scheme", "host", "port", "path", "query", "body"),
        filter_headers=[
            "authorization",
            "api-key",
            "cookie",
            "set-cookie",
            "openai-organization",
            "openai-project",
        ],
        decode_compressed_response=True,
    )


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[object]:
    """Replay ``cassettes/openai/<module>/<test function>.yaml``; fail if nothing in it was used."""
    path = CASSETTES / Path(str(request.node.fspath)).stem / f"{request.node.originalname}.yaml"
    with make_vcr().use_cassette(str(path), allow_playback_repeats=False) as cass:
        yield cass
    assert cass.play_count > 0, f"no request was answered from {path}"


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(api_key=oa_kit.API_KEY, max_retries=0)


@pytest.fixture
def aclient() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=oa_kit.API_KEY, max_retries=0)
