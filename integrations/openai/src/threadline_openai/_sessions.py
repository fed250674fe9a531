"""Where an OpenAI call's session and provider come from.

Session precedence for one call (an explicit ``threadline.session()`` scope
wins over all of these; the emitter applies it):

1. the Responses ``conversation`` (an id, or an object with ``id``), and the
   conversation id in a ``/conversations/{id}/...`` URL;
2. a ``previous_response_id`` chain: every Responses call that ends records
   ``response id -> chain id`` in a bounded in-process map, so the next call
   naming that response continues the same session;
3. an Assistants thread id from a ``/threads/{id}/...`` URL;
4. ``metadata`` keys, in the configured session key order
   (``session_id``, ``thread_id``, ``conversation_id`` by default).

The emitter resolves hints by its configured key order; to keep the order
above, :func:`session_candidates` resolves the winner itself and the call
passes a single ``{key: id}`` hint. The first source is recorded in
``threadline.session.origin``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

ORIGIN_CONVERSATION = "openai.conversation"
ORIGIN_CHAIN = "openai.previous_response_id"
ORIGIN_RESPONSE = "openai.response_id"
ORIGIN_THREAD = "openai.thread"
ORIGIN_METADATA = "openai.metadata"

CONVERSATION_KEY = "conversation_id"
THREAD_KEY = "thread_id"


class ChainMap:
    """A bounded, thread-safe ``response id -> chain id`` map (oldest entries go first)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, response_id: str) -> str | None:
        """The chain (session) id a response belongs to, if it was seen in this process."""
        return self._ids.get(response_id)

    def put(self, response_id: str, chain_id: str) -> None:
        """Remember that ``response_id`` belongs to ``chain_id``."""
        with self._lock:
            self._ids[response_id] = chain_id
            while len(self._ids) > self.capacity:
                del self._ids[next(iter(self._ids))]

    def clear(self) -> None:
        """Forget every chain."""
        with self._lock:
            self._ids.clear()

    def __len__(self) -> int:
        return len(self._ids)


chains = ChainMap()


def _str_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        inner = value.get("id")
        return inner if isinstance(inner, str) and inner else None
    inner = getattr(value, "id", None)
    return inner if isinstance(inner, str) and inner else None


def path_id(url: str, collection: str) -> str | None:
    """The id after ``/{collection}/`` in an API path (``/threads/thread_1/runs`` -> ``thread_1``)."""
    marker = f"/{collection}/"
    at = url.find(marker)
    if at < 0:
        return None
    rest = url[at + len(marker) :]
    ident = rest.split("/", 1)[0].split("?", 1)[0]
    return ident or None


def session_candidates(
    body: Mapping[str, Any],
    url: str,
    *,
    responses: bool,
    session_keys: tuple[str, ...],
) -> tuple[str, str, str] | None:
    """The winning ``(key, raw id, origin)`` for a call, by the precedence of this module."""
    if responses:
        conversation = _str_id(body.get("conversation"))
        if conversation and CONVERSATION_KEY in session_keys:
            return CONVERSATION_KEY, conversation, ORIGIN_CONVERSATION
        previous = body.get("previous_response_id")
        if isinstance(previous, str) and previous and CONVERSATION_KEY in session_keys:
            return CONVERSATION_KEY, chains.get(previous) or previous, ORIGIN_CHAIN
    elif url.startswith("/conversations/"):
        conversation = path_id(url, "conversations")
        if conversation and CONVERSATION_KEY in session_keys:
            return CONVERSATION_KEY, conversation, ORIGIN_CONVERSATION
    elif url.startswith("/threads/"):
        thread = path_id(url, "threads")
        if thread and thread != "runs" and THREAD_KEY in session_keys:
            return THREAD_KEY, thread, ORIGIN_THREAD
    metadata = body.get("metadata")
    if metadata and isinstance(metadata, Mapping):
        for key in session_keys:
            value = metadata.get(key)
            if value is not None and value != "":
                return key, value, ORIGIN_METADATA
    return None


def user_candidate(body: Mapping[str, Any], user_keys: tuple[str, ...]) -> Any:
    """The end user of a call: ``metadata`` user keys, then ``user``, then ``safety_identifier``."""
    metadata = body.get("metadata")
    if metadata and isinstance(metadata, Mapping):
        for key in user_keys:
            value = metadata.get(key)
            if value is not None and value != "":
                return value
    for key in ("user", "safety_identifier"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# --- provider ---------------------------------------------------------------------
_HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
}
_AZURE_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
OTHER_PROVIDER = "openai_compatible"
AZURE_PROVIDER = "azure.ai.openai"

_provider_cache: dict[int, tuple[Any, str, str | None]] = {}


def provider_of(client: Any) -> tuple[str, str | None]:
    """``(gen_ai.provider.name, server.address)`` for a client, from its class and base URL."""
    url = getattr(client, "_base_url", None)
    cached = _provider_cache.get(id(url))
    if cached is not None and cached[0] is url:
        return cached[1], cached[2]
    host: str | None = None
    try:
        host = url.host if url is not None else None
    except Exception:
        host = None
    if _is_azure_client(client) or (host and host.endswith(_AZURE_SUFFIXES)):
        provider = AZURE_PROVIDER
    else:
        provider = _HOSTS.get(host or "", OTHER_PROVIDER)
    if len(_provider_cache) > 256:
        _provider_cache.clear()
    _provider_cache[id(url)] = (url, provider, host or None)
    return provider, host or None


def _is_azure_client(client: Any) -> bool:
    for cls in type(client).__mro__:
        if cls.__name__ == "BaseAzureClient" and cls.__module__.startswith("openai."):
            return True
    return False
