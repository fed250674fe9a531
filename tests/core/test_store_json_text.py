"""The store's JSON text is the same with orjson and with the standard library alone."""

from __future__ import annotations

import importlib
import json
import math

import pytest

from threadline.store import json_text, span_rows

pytest.importorskip("orjson")

VALUES = [
    {"a": 1, "b": [1, 2.5, "x"], "c": {"d": True, "e": False}},
    {"text": 'héllo — 你好 \u2028 \x00 "quoted" \\ back', "n": -3},
    ["a list", ["nested", [1, [2, [3]]]]],
    {"big": 2**70},  # beyond 64 bits: orjson refuses it, the standard library writes it
    {1: "an int key"},  # not text: orjson refuses it, the standard library turns it into "1"
    {"surrogate": "lone \ud800 half"},  # orjson refuses it; the standard library writes it
    {"a string that says null": "null"},
    [0.1, 1.5, -2.0, 1e-7, 123456.789],
]


def _stdlib(value: object, *, allow_nan: bool) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan, default=str)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_compact_json_writes_what_the_standard_library_writes(value: object) -> None:
    encode = json_text.compact_json(allow_nan=False, default=str)
    assert json.loads(encode(value)) == json.loads(_stdlib(value, allow_nan=False))
    assert isinstance(encode(value), str)


def test_floats_are_the_same_json_numbers() -> None:
    encode = json_text.compact_json(allow_nan=False)
    for number in (1e16, 1e-5, 0.30000000000000004, 5e-324, 1.7976931348623157e308):
        assert float(encode([number])[1:-1]) == number


def test_nan_and_infinity_raise_without_allow_nan_and_the_span_encoding_writes_them_as_text() -> None:
    encode = json_text.compact_json(allow_nan=False)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            encode({"x": [1, bad]})
    assert json.loads(span_rows.dumps({"x": math.nan, "y": [math.inf]})) == {"x": "nan", "y": ["inf"]}


def test_loads_reads_what_json_reads_and_refuses_what_it_refuses() -> None:
    for text in ('{"a":[1,2,{"b":null}]}', '"\\ud800"', "[NaN, Infinity]", '{"k": "v"}'):
        left, right = json_text.loads(text), json.loads(text)
        assert repr(left) == repr(right)
    with pytest.raises(ValueError):
        json_text.loads("{not json")


def test_without_orjson_the_standard_library_does_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    monkeypatch.setitem(__import__("sys").modules, "orjson", None)  # import orjson now fails
    plain = importlib.reload(json_text)
    try:
        assert plain.orjson is None
        assert repr(plain.loads('[NaN, {"a": null}]')) == repr([math.nan, {"a": None}])
        encode = plain.compact_json(allow_nan=False, default=str)
        for value in VALUES:
            assert encode(value) == _stdlib(value, allow_nan=False)
    finally:
        monkeypatch.setitem(__import__("sys").modules, "orjson", orjson)
        importlib.reload(json_text)
    assert json_text.orjson is orjson
