"""The OpenAI SDK integration plugin (entry point ``openai``)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import wrapt

from threadline.integration import Integration
from threadline.patching import PatchSet
from threadline_openai import _streams, _wrappers
from threadline_openai._calls import Options

logger = logging.getLogger("threadline")

_BASE = "openai._base_client"
_STREAMING = "openai._streaming"
_CHAT_HELPERS = "openai.lib.streaming.chat._completions"
_RESPONSE_HELPERS = "openai.lib.streaming.responses._responses"

# (module, "Class.method", wrapper): the choke point first, then the plumbing streams and raw responses need.
PATCHES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    (_BASE, "SyncAPIClient.request", _wrappers.request_wrapper),
    (_BASE, "AsyncAPIClient.request", _wrappers.async_request_wrapper),
    (_BASE, "SyncAPIClient._sleep_for_retry", _wrappers.retry_wrapper),
    (_BASE, "AsyncAPIClient._sleep_for_retry", _wrappers.retry_wrapper),
    ("openai._response", "BaseAPIResponse._parse", _wrappers.parse_wrapper),
    ("openai._legacy_response", "LegacyAPIResponse._parse", _wrappers.parse_wrapper),
    (_STREAMING, "Stream.__iter__", _streams.iter_wrapper),
    (_STREAMING, "Stream.close", _streams.close_wrapper),
    (_STREAMING, "AsyncStream.__aiter__", _streams.iter_wrapper),
    (_STREAMING, "AsyncStream.close", _streams.close_wrapper),
    (_CHAT_HELPERS, "ChatCompletionStream.close", _streams.close_wrapper),
    (_CHAT_HELPERS, "AsyncChatCompletionStream.close", _streams.close_wrapper),
    (_RESPONSE_HELPERS, "ResponseStream.close", _streams.close_wrapper),
    (_RESPONSE_HELPERS, "AsyncResponseStream.close", _streams.close_wrapper),
)


class OpenAIIntegration(Integration):
    """Traces the OpenAI SDK (2.x and 3.x) at the clients' ``request`` choke point.

    Every patch is applied when its module is imported (now, or on its first
    import), each on its own: a method missing in some SDK version is logged
    and skipped, never breaking ``import openai``.

    Options (keyword arguments of :meth:`instrument`, else environment
    variables; see :class:`threadline_openai._calls.Options`):
    ``include_stream_usage`` (``THREADLINE_OPENAI_INCLUDE_USAGE``, off) and
    ``chain_sessions`` (``THREADLINE_OPENAI_CHAIN_SESSIONS``, on).
    """

    name: ClassVar[str] = "openai"
    requires: ClassVar[str] = "openai>=2.0"
    module: ClassVar[str] = "openai"

    def __init__(self) -> None:
        super().__init__()
        self._patches: PatchSet | None = None
        self._hooked: set[str] = set()
        self._patch_lock = threading.Lock()

    def _instrument(
        self, include_stream_usage: bool | None = None, chain_sessions: bool | None = None, **options: Any
    ) -> None:
        Options.load(include_stream_usage=include_stream_usage, chain_sessions=chain_sessions)
        self._patches = PatchSet()
        for module in dict.fromkeys(m for m, _, _ in PATCHES):
            if module in sys.modules:
                self._apply(module)
            elif module not in self._hooked:
                self._hooked.add(module)
                wrapt.register_post_import_hook(self._on_import, module)

    def _on_import(self, module: Any) -> None:
        self._apply(module.__name__)

    def _apply(self, module: str) -> None:
        with self._patch_lock:
            patches = self._patches
            if patches is None:  # uninstrumented since the hook was registered
                return
            for mod, qualname, wrapper in PATCHES:
                if mod != module:
                    continue
                try:
                    patches.add(mod, qualname, wrapper)
                except Exception:
                    logger.warning("threadline: cannot patch %s.%s; skipped", mod, qualname, exc_info=True)

    def _uninstrument(self) -> None:
        with self._patch_lock:
            patches, self._patches = self._patches, None
        if patches is not None:
            patches.remove()
