"""Which LlamaIndex LLM stream is being consumed right now, found by the running generator's frame.

The dispatcher exits an LLM span as soon as its generator is returned; while
the caller iterates it, LlamaIndex's ``wrapped_gen`` (``llms/callbacks.py``)
runs with the span id in a local variable. Walking up the caller's frames to
that generator names the span a lazily made provider call belongs under.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import CodeType
from typing import TypeVar

_FRAME_DEPTH = 256

T = TypeVar("T")


def wrapped_gen_codes() -> frozenset[CodeType]:
    """The code objects of LlamaIndex's stream wrappers (``wrapped_gen`` in ``llms/callbacks.py``)."""
    module = sys.modules.get("llama_index.core.llms.callbacks")
    if module is None:
        return frozenset()
    found: set[CodeType] = set()

    def walk(code: CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, CodeType):
                if const.co_name == "wrapped_gen":
                    found.add(const)
                walk(const)

    for name in ("llm_chat_callback", "llm_completion_callback"):
        fn = getattr(module, name, None)
        code = getattr(fn, "__code__", None)
        if isinstance(code, CodeType):
            walk(code)
    return frozenset(found)


def running_stream(codes: frozenset[CodeType], streams: Mapping[str, T]) -> T | None:
    """The entry in ``streams`` of the innermost running ``wrapped_gen`` above the caller."""
    frame = sys._getframe(2)  # above this function and the tracker's current_handle
    depth = 0
    while frame is not None and depth < _FRAME_DEPTH:
        if frame.f_code in codes:
            span_id = frame.f_locals.get("span_id")
            entry = streams.get(span_id) if isinstance(span_id, str) else None
            if entry is not None:
                return entry
        frame = frame.f_back
        depth += 1
    return None
