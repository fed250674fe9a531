"""A finished span as a row of the store's ``spans`` table (encoded on the batch processor's thread).

The promoted columns (session, usage, cost, outcome, environment ...) are read
from the span's attributes once here, so that the store's readers and its
rollups never parse the attribute JSON. Captured message lists are found (not
yet stored): the write transaction turns them into references (:mod:`threadline.store.content`).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from threadline import semconv as sc
from threadline.store import content as store_content
from threadline.store.json_text import compact_json
from threadline.store.tables import SPAN_COLUMNS

__all__ = [
    "CONTENT_INDEX",
    "ResourceNames",
    "dumps",
    "encodable_row",
    "encode",
    "promoted_from_attributes",
    "span_row",
]


_KIND_NAMES = {id(kind): kind.name for kind in SpanKind}  # by identity, as above


def _call_columns(get: Any) -> tuple[Any, ...]:
    """The usage columns of a model call: tokens by kind, cost, where it is counted, time to first token."""
    return (
        _int(get(sc.GEN_AI_USAGE_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
        _int(get(sc.GEN_AI_USAGE_TOTAL_TOKENS)),
        _float(get(sc.GEN_AI_USAGE_COST)),
        _str(get(sc.USAGE_COUNTED_IN)),
        _float(get(sc.TIME_TO_FIRST_TOKEN)),
    )


# The attributes _call_columns reads: a span with none of them (most spans) skips it.
_CALL_NAMES = frozenset(
    (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_TOTAL_TOKENS,
        sc.GEN_AI_USAGE_COST,
        sc.USAGE_COUNTED_IN,
        sc.TIME_TO_FIRST_TOKEN,
    )
)
_NO_CALL = (None,) * len(_CALL_NAMES)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
_encode = compact_json(allow_nan=False, default=str)


def dumps(value: Any) -> str:
    """Compact JSON that SQLite's JSON functions accept (no NaN / Infinity)."""
    try:
        return _encode(value)
    except ValueError:
        return _ENCODER.encode(_finite(value))


def _int(value: Any) -> int | None:
    """A token count as stored; ``None`` when it is not a whole number below 2**40 (~10**12).

    No real count comes near the bound, and under it the rollups' sums of eight million
    spans at the bound stay within SQLite's 64-bit integers.
    """
    if value.__class__ is not int:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, int):
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            return None
    return value if -_MAX_COUNT < value < _MAX_COUNT else None


_MAX_COUNT = 2**40


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _str(value: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return str(value)


def _json_list(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return dumps(list(value))
    return dumps([value])


_MIRROR_NAMES = frozenset(sc.MIRRORS)


def _without_mirrors(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` without the names that only repeat another's value (see :data:`semconv.MIRRORS`).

    The store keeps one copy: on a model span the mirrors are about 40 % of the
    attribute JSON, which is most of what encoding and writing a span costs.
    """
    get = attrs.get
    for mirror in attrs.keys() & _MIRROR_NAMES:
        value = attrs[mirror]
        for source in sc.MIRRORS[mirror]:
            if get(source) == value:
                del attrs[mirror]
                break
    return attrs


def _copy_attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    try:
        copied = attributes.copy()  # BoundedAttributes.copy(): a plain dict, ~10x faster than dict(proxy)
    except AttributeError:
        copied = None
    return copied if type(copied) is dict else dict(attributes)


class ResourceNames:
    """``service.name`` and ``deployment.environment.name`` of the last resource seen (a provider has one)."""

    __slots__ = ("resource", "name", "environment")

    def __init__(self) -> None:
        self.resource: Any = None
        self.name: str | None = None
        self.environment: str | None = None

    def get(self, resource: Any) -> str | None:
        """The ``service.name`` of ``resource`` (``None`` without one)."""
        if resource is None:
            return None
        if resource is not self.resource:
            attributes = resource.attributes
            self.name = _str(attributes.get(SERVICE_NAME))
            self.environment = _str(attributes.get(sc.DEPLOYMENT_ENVIRONMENT))
            self.resource = resource
        return self.name


def _events_json(events: Sequence[Any]) -> str | None:
    if not events:
        return None
    return dumps(
        [{"name": e.name, "time_ns": e.timestamp, "attributes": _copy_attributes(e.attributes)} for e in events]
    )


def _links_json(links: Sequence[Any]) -> str | None:
    if not links:
        return None
    return dumps(
        [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": _copy_attributes(link.attributes),
            }
            for link in links
        ]
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    if value.__class__ is not str or value.isascii():
        return value
    return _SURROGATE.sub("\ufffd", value)


def encodable_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with every text made encodable as UTF-8 (lone surrogates replaced)."""
    return tuple(_encodable(v) for v in row)


_METADATA_PREFIX_LEN = len(sc.METADATA_PREFIX)
_is_metadata = operator.methodcaller("startswith", sc.METADATA_PREFIX)


def _has_metadata(names: Any) -> bool:
    # One search of the joined names (a call per name costs several times more).
    return sc.METADATA_PREFIX in "\n".join(names)


def _session_meta(attrs: dict[str, Any], has_metadata: bool | None = None) -> str | None:
    """JSON ``[tags, metadata]`` of the span's ``threadline.session(...)``, or ``None`` without either."""
    tags = attrs.get(sc.TAGS)
    if has_metadata is None:
        has_metadata = _has_metadata(attrs)
    metadata = {k[_METADATA_PREFIX_LEN:]: attrs[k] for k in filter(_is_metadata, attrs)} if has_metadata else None
    if not tags and not metadata:
        return None
    if isinstance(tags, (list, tuple)):
        tags = [str(t) for t in tags]
    elif tags is not None:
        tags = [str(tags)]
    return dumps([tags or [], metadata or {}])


_PROMOTED_NAMES = frozenset(
    (sc.DEPLOYMENT_ENVIRONMENT, sc.SESSION_ID_ORIGINAL, sc.COST_INPUT, sc.COST_OUTPUT, sc.GRAPH_CHECKPOINT_ID,
     sc.RESUME_CHECKPOINT_ID)
)  # fmt: skip
_NO_PROMOTED = (None,) * 5


def promoted_from_attributes(
    attrs: dict[str, Any], *, has_promoted: bool | None = None, has_metadata: bool | None = None
) -> tuple[Any, ...]:
    """The span columns schema v2 added, from a span's attributes.

    (environment, session original id, input cost, output cost, checkpoint id, session meta)
    ``has_promoted`` / ``has_metadata``: whether the names call for them, when the caller knows.
    """
    if has_promoted is None:
        has_promoted = not _PROMOTED_NAMES.isdisjoint(attrs)
    if not has_promoted:  # most spans: only the session meta to look for
        return (*_NO_PROMOTED, _session_meta(attrs, has_metadata))
    get = attrs.get
    return (
        _str(get(sc.DEPLOYMENT_ENVIRONMENT)),
        _str(get(sc.SESSION_ID_ORIGINAL)),
        _float(get(sc.COST_INPUT)),
        _float(get(sc.COST_OUTPUT)),
        _str(get(sc.GRAPH_CHECKPOINT_ID) or get(sc.RESUME_CHECKPOINT_ID)),
        _session_meta(attrs, has_metadata),
    )


# What a span's attribute names call for: (mirrors, content, call usage, promoted, metadata). Spans
# repeat a few sets of names, so this is one tuple and one dict lookup a span instead of five searches.
_Needs = tuple[bool, bool, bool, bool, bool]
_NEEDS_BY_NAMES: dict[tuple[str, ...], _Needs] = {}
_MAX_NAME_SETS = 1024


def _needs(attrs: dict[str, Any]) -> _Needs:
    names = tuple(attrs)
    needs = _NEEDS_BY_NAMES.get(names)
    if needs is None:
        needs = (
            not _MIRROR_NAMES.isdisjoint(names),
            not _CONTENT_NAMES.isdisjoint(names),
            not _CALL_NAMES.isdisjoint(names),
            not _PROMOTED_NAMES.isdisjoint(names),
            _has_metadata(names),
        )
        if len(_NEEDS_BY_NAMES) >= _MAX_NAME_SETS:
            _NEEDS_BY_NAMES.clear()
        _NEEDS_BY_NAMES[names] = needs
    return needs


# The span columns read as text from attributes, in the order encode() uses them.
_TEXT_NAMES = (
    sc.SPAN_KIND,
    sc.OUTCOME,
    sc.SESSION_ID,
    sc.USER_ID,
    sc.INTEGRATION,
    sc.GEN_AI_OPERATION_NAME,
    sc.GEN_AI_PROVIDER_NAME,
)
_TEXT_TYPES = frozenset((str, type(None)))
_CONTENT_NAMES = frozenset(store_content.CONTENT_ATTRIBUTES)
CONTENT_INDEX = SPAN_COLUMNS.index("content")
_ENVIRONMENT_INDEX = SPAN_COLUMNS.index("environment")


def encode(
    span: ReadableSpan, resources: ResourceNames | None = None, *, splitter: store_content.Splitter | None = None
) -> tuple[list[Any], dict[str, store_content.Pending] | None, dict[str, Any]]:
    """The ``spans`` row of one finished span (its ``content`` still to resolve), its pending message lists,
    and the attributes its ``attributes`` JSON was written from (for the search index; not to be changed)."""
    if resources is None:
        resources = ResourceNames()
    ctx = span.context
    attrs = _copy_attributes(span.attributes)
    has_mirrors, has_content, has_call, has_promoted, has_metadata = _needs(attrs)
    if has_mirrors:
        _without_mirrors(attrs)
    get = attrs.get
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    start = span.start_time
    model = get(sc.GEN_AI_RESPONSE_MODEL) or get(sc.GEN_AI_REQUEST_MODEL)
    resource = span.resource
    pending: dict[str, store_content.Pending] | None = None
    if splitter is not None and has_content:
        for name in store_content.CONTENT_ATTRIBUTES:
            value = get(name)
            found = splitter.split(value) if value.__class__ is str else None
            if found is not None:
                if pending is None:
                    pending = {}
                pending[name] = found
                del attrs[name]
    # The text columns in one pass in C; a value of another type (rare: set by user code) made text.
    texts = list(map(get, _TEXT_NAMES))
    if not _TEXT_TYPES.issuperset(map(type, texts)):
        texts = [_str(v) for v in texts]
    if model.__class__ is not str and model is not None:
        model = str(model)
    code = status.status_code
    interrupts, answered = get(sc.INTERRUPT_IDS), get(sc.RESUME_INTERRUPT_IDS)
    events, links = span.events, span.links
    row = [
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None else None,
        span.name,
        texts[0],  # threadline.span.kind
        _KIND_NAMES.get(id(span.kind)) or span.kind.name,
        start if start is not None else 0,
        span.end_time,
        "ERROR" if code is StatusCode.ERROR else ("OK" if code is StatusCode.OK else "UNSET"),  # by identity
        status.description,
        *texts[1:6],  # outcome, session, user, integration, operation
        model,
        texts[6],  # provider
        *(_call_columns(get) if has_call else _NO_CALL),
        1 if get(sc.RESUME) else 0,
        _json_list(interrupts) if interrupts is not None else None,
        _json_list(answered) if answered is not None else None,
        resources.get(resource),
        scope.name if scope is not None else None,
        *promoted_from_attributes(attrs, has_promoted=has_promoted, has_metadata=has_metadata),
        None,  # content: filled in by the write transaction
        dumps(attrs),
        _events_json(events) if events else None,
        _links_json(links) if links else None,
    ]
    if row[_ENVIRONMENT_INDEX] is None and resource is not None:
        row[_ENVIRONMENT_INDEX] = resources.environment  # the resource's, read by get() above
    return row, pending, attrs


def span_row(span: ReadableSpan, _resources: ResourceNames | None = None) -> tuple[Any, ...]:
    """The ``spans`` row of one finished span, in :data:`SPAN_COLUMNS` order (content kept inline)."""
    return tuple(encode(span, _resources)[0])
