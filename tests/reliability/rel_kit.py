"""Shared helpers of the reliability suite: span scanners, fault injection, the scenario apps it drives.

The only fakes are at the model boundary: the real ``openai`` client talks to
``FakeOpenAI`` (``scenarios.openai_api``) through ``httpx.MockTransport``,
LangGraph runs the support graph of ``scenarios.langgraph_apps``, LlamaIndex
runs ``MockLLM`` / ``MockEmbedding``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from scenarios.openai_api import MODEL, FakeOpenAI
from threadline import guard


def has_module(name: str) -> bool:
    """True when ``name`` can be imported here."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


LANGGRAPH_READY = has_module("threadline_langgraph") and has_module("langgraph")
LANGCHAIN_READY = has_module("threadline_langchain") and has_module("langchain_core")
needs_langgraph = pytest.mark.skipif(
    not LANGGRAPH_READY, reason="threadline-langgraph is not installed yet (integrations/langgraph is being written)"
)
needs_langchain = pytest.mark.skipif(
    not LANGCHAIN_READY, reason="threadline-langchain is not installed yet (integrations/langchain is being written)"
)


# --- reading exported spans --------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def span_texts(span: Any) -> Iterator[tuple[str, str]]:
    """Every text a span exports, as ``(where, text)``: name, status, attributes, events, links, resource."""
    yield "name", span.name
    if span.status is not None and span.status.description:
        yield "status", span.status.description
    for key, value in (span.attributes or {}).items():
        for text in _strings(value):
            yield f"attribute {key}", text
    for event in span.events or ():
        yield "event name", event.name
        for key, value in (event.attributes or {}).items():
            for text in _strings(value):
                yield f"event {event.name} attribute {key}", text
    for link in span.links or ():
        for key, value in (link.attributes or {}).items():
            for text in _strings(value):
                yield f"link attribute {key}", text
    if span.resource is not None:
        for key, value in span.resource.attributes.items():
            for text in _strings(value):
                yield f"resource {key}", text


def find_text(spans: Any, needles: Any) -> list[str]:
    """Where any of ``needles`` occurs in any exported text of ``spans`` (``[]`` when nowhere)."""
    found = []
    for span in spans:
        for where, text in span_texts(span):
            for needle in needles:
                if needle in text:
                    found.append(f"{needle!r} in {span.name!r} {where}")
    return found


# --- fault injection -----------------------------------------------------------------------------------


class InjectedBugError(Exception):
    """The bug planted in threadline's telemetry path."""


@dataclass
class Injection:
    """A function replaced by one that raises :class:`InjectedBugError`, counting the calls it swallowed."""

    label: str
    hits: int = 0

    def raiser(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def broken(*args: Any, **kwargs: Any) -> Any:
            self.hits += 1
            raise InjectedBugError(f"bug injected into {self.label}")

        broken.__wrapped__ = original  # type: ignore[attr-defined]
        return broken


def inject(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Injection:
    """Make ``owner.name`` raise, and every module-level alias of that same function too.

    Integrations import helpers by name (``from threadline.usage import
    usage_from_openai``): patching only the defining module would miss them.
    """
    original = getattr(owner, name)
    label = f"{getattr(owner, '__name__', owner)}.{name}"
    injection = Injection(label)
    broken = injection.raiser(original)
    monkeypatch.setattr(owner, name, broken)
    if not isinstance(owner, type):
        for module_name, module in list(sys.modules.items()):
            if not module_name.startswith("threadline") or module is None or module is owner:
                continue
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, broken)
    return injection


class FailureCount:
    """How many internal failures threadline's guard reported since creation."""

    def __init__(self) -> None:
        self.start = guard.failure_count

    @property
    def new(self) -> int:
        return guard.failure_count - self.start


# --- LangChain / LangGraph builders (imported lazily: the integrations may be missing) ---------------------


def chat_openai(backend: FakeOpenAI, **options: Any) -> Any:
    """LangChain's real ``ChatOpenAI`` sending to ``backend``."""
    from langchain_openai import ChatOpenAI

    options.setdefault("api_key", "sk-test-not-a-real-key")
    return ChatOpenAI(
        model=MODEL,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(backend)),
        http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(backend)),
        **options,
    )


def plain(value: Any) -> Any:
    """Comparable plain data: messages as ``(type, content)``, interrupts as their value (their ids are random)."""
    kind = type(value).__name__
    if kind == "Interrupt" and hasattr(value, "value"):
        return ("interrupt", plain(value.value))
    if isinstance(getattr(value, "type", None), str) and hasattr(value, "content"):
        return (value.type, value.content, plain(getattr(value, "tool_calls", None) or []))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "id"}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def support_graph(llm: Any, **options: Any) -> Any:
    """``scenarios.langgraph_apps.support_graph``: the model answers, then a human approves (``interrupt``)."""
    from scenarios.langgraph_apps import support_graph as build

    return build(llm, **options)


def echo_chat_model() -> Any:
    """A chat model that answers ``answer to <last message>``, with usage (``scenarios.chat_models.EchoChat``)."""
    from scenarios.chat_models import EchoChat

    return EchoChat()
