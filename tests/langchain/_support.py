"""Shared by the LangChain and LangGraph tests: span readers, and the chat model faked at the model boundary.

The model (:class:`ScriptedChatModel`) lives with the other scenario apps in
``scenarios.chat_models``; it is re-exported here for the tests that import it
from this module.
"""

from __future__ import annotations

from typing import Any

from scenarios.chat_models import MODEL, RESPONSE_MODEL, ScriptedChatModel, usage
from tests.kit import attrs

__all__ = ["MODEL", "RESPONSE_MODEL", "ScriptedChatModel", "attrs", "parent_of", "usage"]


def parent_of(spans: Any, span: Any) -> Any:
    """The finished parent span of ``span`` (``None`` for a root)."""
    if span.parent is None:
        return None
    found = [s for s in spans.finished() if s.context.span_id == span.parent.span_id]
    return found[0] if found else None
