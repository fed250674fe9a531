"""One logical OpenAI API call: its record, its span, and how it ends.

A :class:`Call` is opened by the ``request`` wrapper before the SDK's retry
loop runs and is closed exactly once: when the result is back, when the
stream it returned ends, when a raw response is parsed, or on error.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from typing import Any

from threadline import semconv as sc
from threadline.emitter import Emitter, SpanHandle
from threadline.guard import failed
from threadline.integration import current_emitter
from threadline.masking import remember
from threadline.records import ModelCall, Outcome, Run, SpanKind
from threadline.sessions import validate_id
from threadline_openai import _extract as ex
from threadline_openai._sessions import (
    CONVERSATION_KEY,
    ORIGIN_CONVERSATION,
    ORIGIN_RESPONSE,
    chains,
    provider_of,
    session_candidates,
    user_candidate,
)

# stream end reasons
COMPLETED = "completed"
CLOSED_EARLY = "closed_early"
ERROR = "error"
GARBAGE_COLLECTED = "garbage_collected"


class Options:
    """Integration options (set by ``OpenAIIntegration.instrument(...)`` or environment variables).

    ``include_stream_usage`` (``THREADLINE_OPENAI_INCLUDE_USAGE=1``): add
    ``stream_options={"include_usage": true}`` to streamed chat and completion
    requests that do not say, so their usage is known. Off by default because
    it changes the request: the stream then ends with one extra chunk whose
    ``choices`` is empty.

    ``chain_sessions`` (``THREADLINE_OPENAI_CHAIN_SESSIONS``, on by default): a
    stored Responses call in a trace without a session starts a session named
    by its own response id, so the first turn of a ``previous_response_id``
    chain is in the chain's session.
    """

    include_stream_usage: bool = False
    chain_sessions: bool = True

    @classmethod
    def load(cls, include_stream_usage: bool | None = None, chain_sessions: bool | None = None) -> None:
        """Set the options from arguments, falling back to the environment."""
        cls.include_stream_usage = (
            include_stream_usage
            if include_stream_usage is not None
            else _env_flag("THREADLINE_OPENAI_INCLUDE_USAGE", False)
        )
        cls.chain_sessions = (
            chain_sessions if chain_sessions is not None else _env_flag("THREADLINE_OPENAI_CHAIN_SESSIONS", True)
        )


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


class Call:
    """The state of one instrumented API call between its start and its end."""

    __slots__ = (
        "emitter",
        "handle",
        "record",
        "route",
        "chain",
        "user",
        "store",
        "ended",
        "creates_conversation",
        "client",
    )

    def __init__(
        self, emitter: Emitter, handle: SpanHandle, route: str | None, user: Any, store: bool, client: Any = None
    ) -> None:
        self.emitter = emitter
        self.client = client  # for its API key, masked in error text
        self.handle = handle
        self.record = handle.record
        self.route = route  # None for an endpoint we do not model
        self.chain: tuple[str, str, str] | None = None
        self.user = user
        self.store = store
        self.ended = False
        self.creates_conversation = False

    @property
    def capture(self) -> bool:
        """Whether content is captured (prompts, outputs) under the emitter's policy."""
        return self.emitter.content.capture

    def note_retry(self) -> None:
        """The SDK is about to retry this call."""
        record = self.record
        if isinstance(record, ModelCall):
            record.retries = (record.retries or 0) + 1
        else:
            record.attributes[sc.RETRIES] = record.attributes.get(sc.RETRIES, 0) + 1

    # -- ends ------------------------------------------------------------------------
    def succeed(self, result: Any) -> None:
        """End with a complete result (a parsed object or a dict read from the body)."""
        if self.ended:
            return
        if self.route is not None and isinstance(self.record, ModelCall):
            ex.fill_result(self.record, self.route, result, self.emitter.content.capture)
        elif self.creates_conversation:
            self._bind_conversation(ex.get(result, "id"))
        self.end()

    def _bind_conversation(self, conversation: Any) -> None:
        # ``POST /conversations`` returns the id every later turn names: its trace joins that session.
        if not isinstance(conversation, str) or not conversation or CONVERSATION_KEY not in self.emitter.session_keys:
            return
        if self.handle.trace.session is None:
            bound = self.emitter.bind_session(self.handle, {CONVERSATION_KEY: conversation}, user_hint=self.user)
            if bound is not None:
                self.chain = (CONVERSATION_KEY, conversation, ORIGIN_CONVERSATION)

    def fail(self, exc: BaseException, *, stream_reason: str | None = None) -> None:
        """End with the SDK's exception (status code and error type recorded)."""
        if self.ended:
            return
        record = self.record
        if stream_reason is not None and isinstance(record, ModelCall):
            record.stream_end_reason = stream_reason
        remember(getattr(self.client, "api_key", None))  # a server may echo it in the error message
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            record.attributes[sc.HTTP_RESPONSE_STATUS_CODE] = status
        if isinstance(exc, asyncio.CancelledError):
            if isinstance(record, ModelCall) and stream_reason is not None:
                record.stream_end_reason = CLOSED_EARLY
            self.end(outcome=Outcome.CANCELLED)
            return
        self.end(error=exc)

    def end(self, *, outcome: Outcome | None = None, error: BaseException | None = None) -> None:
        """Close the span (once); Responses calls also extend their session chain."""
        if self.ended:
            return
        self.ended = True
        try:
            self._session_extras()
        finally:  # the span ends even if the extras fail
            self.emitter.end(self.handle, outcome=outcome, error=error)

    def _session_extras(self) -> None:
        record = self.record
        if self.route == ex.RESPONSES and isinstance(record, ModelCall) and record.response_id:
            self._chain(record.response_id)
        session = self.handle.trace.session
        if self.user is not None and (session is None or session.user_id is None):
            checked = validate_id(self.user, what="user id")
            if checked is not None:
                record.attributes[sc.USER_ID] = checked[0]
        if self.chain is not None and session is not None and session.source == self.chain[0]:
            if str(self.chain[1]) in (session.session_id, session.original_id):
                record.attributes[sc.SESSION_ORIGIN] = self.chain[2]

    def _chain(self, response_id: str) -> None:
        if self.chain is not None:
            chains.put(response_id, str(self.chain[1]))
            return
        if not (self.store and Options.chain_sessions) or CONVERSATION_KEY not in self.emitter.session_keys:
            return
        chains.put(response_id, response_id)
        if self.handle.trace.session is None:
            bound = self.emitter.bind_session(self.handle, {CONVERSATION_KEY: response_id}, user_hint=self.user)
            if bound is not None:
                self.chain = (CONVERSATION_KEY, response_id, ORIGIN_RESPONSE)


# --- starting a call ---------------------------------------------------------------------
def _body(options: Any) -> Mapping[str, Any]:
    body = getattr(options, "json_data", None)
    if type(body) is not dict and not isinstance(body, Mapping):
        body = {}
    extra = getattr(options, "extra_json", None)
    if extra and isinstance(extra, Mapping):
        body = {**body, **extra}
    return body


_STATIC_SEGMENT = re.compile(r"[a-z_.]{1,40}")


def _template(url: str) -> str:
    """A low-cardinality span name path: every segment that is not a lowercase word becomes ``{id}``.

    API collection names are lowercase words (``threads``, ``input_items``);
    ids carry digits, dashes or capitals (``thread_Xk4m...``, ``gpt-4o-mini``).
    """
    segments = url.split("?", 1)[0].split("/")
    return "/".join(seg if not seg or _STATIC_SEGMENT.fullmatch(seg) else "{id}" for seg in segments)


def begin(client: Any, options: Any, stream: bool) -> Call | None:
    """Open the span of a call to ``options.url``; ``None`` if it cannot be traced."""
    try:
        return _begin(client, options, stream)
    except Exception as exc:
        if failed("openai.request.start", exc):
            raise
        return None


def _begin(client: Any, options: Any, stream: bool) -> Call:
    emitter = current_emitter()
    url = options.url if isinstance(options.url, str) else str(options.url)
    method = (options.method or "").lower()
    route = ex.ROUTES.get(url) if method == "post" else None
    body = _body(options)
    provider, host = provider_of(client)
    keys = emitter.session_keys
    chain = session_candidates(body, url, responses=route == ex.RESPONSES, session_keys=keys)
    user = user_candidate(body, emitter.user_keys)
    hints = {chain[0]: chain[1]} if chain is not None else None
    record: ModelCall | Run
    if route is not None:
        record = ModelCall(
            name=ex.NAMES[route],
            integration="openai",
            operation=ex.OPERATIONS[route],
            provider=provider,
            server_address=host,
            streamed=stream,
            session_hints=hints,
            user_hint=user,
        )
        ex.fill_request(record, route, body, emitter.content.capture)
        if stream and Options.include_stream_usage and route != ex.RESPONSES:
            _ask_for_usage(options, body)
    else:
        record = Run(
            name=f"openai {method.upper()} {_template(url)}",
            integration="openai",
            run_kind=SpanKind.REQUEST,
            session_hints=hints,
            user_hint=user,
        )
        record.attributes[sc.GEN_AI_PROVIDER_NAME] = provider
        if host:
            record.attributes[sc.SERVER_ADDRESS] = host
    handle = emitter.start(record, use_current=True)
    call = Call(emitter, handle, route, user, body.get("store") is not False, client)
    call.chain = chain
    call.creates_conversation = route is None and method == "post" and url == "/conversations"
    return call


def _ask_for_usage(options: Any, body: Mapping[str, Any]) -> None:
    stream_options = body.get("stream_options")
    if isinstance(stream_options, Mapping) and "include_usage" in stream_options:
        return
    json_data = options.json_data
    if not isinstance(json_data, Mapping):
        return
    merged = dict(stream_options) if isinstance(stream_options, Mapping) else {}
    merged["include_usage"] = True
    options.json_data = {**json_data, "stream_options": merged}
