"""JSON text as the store writes and reads it: compact, non-ASCII kept, with orjson when it is installed.

Encoding and decoding JSON is a fifth of what writing a span costs; orjson (a
C extension, already installed with LangChain) does it in about a quarter of the
standard library's time. Where orjson refuses a value (an integer beyond 64 bits,
a lone surrogate, a key that is not text) or would write something else (NaN and
Infinity, which it writes as ``null``), the standard library writes it, so the
text is the same with and without orjson, up to how a float is spelled
(``1e16`` or ``1e+16``, equal JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the tests with orjson hidden
    orjson = None  # type: ignore[assignment]

__all__ = ["compact_json", "loads"]


def _stdlib_compact(allow_nan: bool, default: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan, default=default)
    make = json.encoder.c_make_encoder
    if make is None:  # no C accelerator
        return encoder.encode
    # encoder.encode() builds its C encoder again for every value, a third of a small value's cost.
    # No circular check: what the store writes are primitives and containers of them.
    iterencode = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, allow_nan)
    return lambda value: "".join(iterencode(value, 0))


def compact_json(*, allow_nan: bool, default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A function writing compact JSON as ``JSONEncoder(ensure_ascii=False, separators=(",", ":"))`` does.

    ``allow_nan=False``: NaN and Infinity raise ``ValueError``, as in the standard library.
    ``allow_nan=True``: with orjson they are written as ``null`` (JSON has no NaN; SQLite's
    JSON functions reject the ``NaN`` the standard library writes).
    """
    stdlib = _stdlib_compact(allow_nan, default)
    if orjson is None:
        return stdlib
    # No ``default`` for orjson: a value it cannot write raises, and the standard library writes it with
    # ``default`` (the store's values are primitives: a keyword argument on every call would cost more).
    fast, refused = orjson.dumps, orjson.JSONEncodeError

    def encode(value: Any) -> str:
        try:
            text = fast(value)
        except refused:
            return stdlib(value)
        if not allow_nan and b"null" in text:  # maybe a NaN written as null (a value is never None here)
            return stdlib(value)
        return text.decode()

    return encode


def loads(text: str | bytes) -> Any:
    """``json.loads``, with orjson when installed: the same values, ``ValueError`` for what is not JSON."""
    if orjson is None:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN literals, lone surrogates, or not JSON: the stdlib decides
        return json.loads(text)
