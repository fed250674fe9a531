"""``content.render``: the encoder's fast path writes what the safe copy would, and falls back when it must."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from threadline.content import _MAX_ITEMS, render, to_jsonable


class Question(BaseModel):
    text: str
    tags: list[str]


@dataclass
class Turn:
    role: str
    n: int


def _slow(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, default=str)


@pytest.mark.parametrize(
    "value",
    [
        {"question": "Où est la gare ?", "n": 3, "ok": True, "none": None, "pi": 3.5},
        [1, "two", [3.0, {"four": 4}]],
        ("a", "b"),
        {"model": Question(text="why?", tags=["x"]), "turn": Turn("user", 2)},
        {"blob": b"\x00\x01", "ids": frozenset({"only"})},
        {"obj": object.__new__(Turn)},  # a dataclass instance missing its fields
    ],
    ids=["plain", "nested", "tuple", "pydantic+dataclass", "bytes+set", "half-built"],
)
def test_fast_path_writes_what_the_safe_copy_writes(value: Any) -> None:
    assert render(value) == _slow(value)


def test_strings_pass_through_unchanged() -> None:
    assert render('{"not": "re-encoded"}') == '{"not": "re-encoded"}'


def test_a_cycle_falls_back_to_the_safe_copy() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    assert json.loads(render(loop)) == {"name": "loop", "self": "<cycle>"}


def test_a_model_dump_that_raises_falls_back() -> None:
    class Broken:
        def model_dump(self) -> Any:
            raise RuntimeError("boom")

    assert json.loads(render({"x": Broken()})) == {"x": "<unrenderable Broken>"}


def test_a_big_collection_is_capped() -> None:
    items = list(range(_MAX_ITEMS + 50))
    rendered = json.loads(render(items))
    assert rendered[:_MAX_ITEMS] == items[:_MAX_ITEMS]
    assert rendered[-1] == "... 50 more"


def test_odd_keys_render() -> None:
    assert json.loads(render({(1, 2): "tuple key", 3: "int key"})) == {"(1, 2)": "tuple key", "3": "int key"}
