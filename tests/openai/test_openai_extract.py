"""Reading SDK results: the one-look-up-per-object reader sees exactly what a key-by-key read sees."""

from __future__ import annotations

from collections import UserDict

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.completion_usage import CompletionUsage

from threadline.usage import value_of
from threadline_openai._extract import fields


class Plain:
    """Not a dict, not an SDK model: a property and an attribute."""

    def __init__(self) -> None:
        self.model = "gpt-4o-mini"

    @property
    def id(self) -> str:
        return "chatcmpl-plain"


KEYS = ("id", "model", "usage", "choices", "role", "content", "prompt_tokens", "vendor_note", "absent")
OBJECTS = {
    "dict": {"id": "chatcmpl-1", "model": "gpt-4o-mini", "vendor_note": "x"},
    "mapping": UserDict({"id": "chatcmpl-2", "content": "hi"}),
    "sdk model": ChatCompletion.model_construct(
        id="chatcmpl-3", model="gpt-4o-mini", choices=[], object="chat.completion"
    ),
    "sdk model with extra keys": ChatCompletionMessage.model_validate(
        {"role": "assistant", "content": "hi", "vendor_note": "from a compatible server"}
    ),
    "sdk usage": CompletionUsage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
    "plain object": Plain(),
    "none": None,
}


@pytest.mark.parametrize("name", list(OBJECTS))
def test_fields_reads_what_value_of_reads(name):
    obj = OBJECTS[name]
    view = fields(obj)
    assert {key: view.get(key) for key in KEYS} == {key: value_of(obj, key) for key in KEYS}


def test_extra_keys_of_an_sdk_model_are_read():
    assert fields(OBJECTS["sdk model with extra keys"]).get("vendor_note") == "from a compatible server"


@pytest.mark.parametrize("shape", ["dict", "sdk model", "plain object"])
def test_an_embeddings_result_gives_its_dimension_count_whatever_its_shape(shape):
    from openai.types import CreateEmbeddingResponse

    from threadline import semconv as sc
    from threadline.records import ModelCall
    from threadline_openai._extract import EMBEDDINGS, fill_result

    body = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }

    class PlainResult:  # a client that hands back plain objects
        def __init__(self) -> None:
            self.model, self.data, self.usage = body["model"], body["data"], None

    result = {
        "dict": body,
        "sdk model": CreateEmbeddingResponse.model_validate(body),
        "plain object": PlainResult(),
    }[shape]
    record = ModelCall(name="embeddings", provider="openai", request_model="text-embedding-3-small")
    fill_result(record, EMBEDDINGS, result, capture=True)
    assert record.response_model == "text-embedding-3-small"
    assert record.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 3
