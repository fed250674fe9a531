"""Embeddings: one embedding span per call, with input tokens, cost and dimension count."""

from __future__ import annotations

import pytest
from oa_kit import assert_usage, invoke, only_span_attrs

from threadline import semconv as sc

MODEL = "text-embedding-3-small"
TEXTS = ["Where is my order?", "How do I get a refund?"]


@pytest.mark.parametrize("mode", ["plain", "raw"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_embeddings(cassette, spans, client, aclient, mode, is_async):
    resource = (aclient if is_async else client).embeddings
    out = await invoke(resource, mode, is_async, model=MODEL, input=TEXTS, dimensions=8)
    assert len(out.data) == 2
    assert len(out.data[0].embedding) == 8
    assert out.data[0].embedding[0] == pytest.approx(0.125)

    a = only_span_attrs(spans, f"embeddings {MODEL}")
    assert a[sc.SPAN_KIND] == "embedding"
    assert a[sc.OI_SPAN_KIND] == "EMBEDDING"
    assert a[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert a[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    assert_usage(a, MODEL, 11, None)
    assert "Where is my order?" in a[sc.OI_INPUT_VALUE]
    assert sc.OI_OUTPUT_VALUE not in a  # vectors are not content worth keeping
