"""Session scopes, id validation and the resolver integrations use.

Precedence (DESIGN.md): an explicit :func:`session` scope, innermost first;
then the framework's own id for the run, picked by a configurable key order;
then none. The id decided for a trace is carried by every span of the trace.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from threadline import _state
from threadline import semconv as sc
from threadline._state import DEFAULT_SESSION_KEYS, DEFAULT_USER_KEYS  # noqa: F401 - public here too

logger = logging.getLogger("threadline")

MAX_ID_LENGTH = 200

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The session a span belongs to, as stamped on it."""

    session_id: str
    user_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = "explicit"  # explicit | <framework key> e.g. "thread_id"
    original_id: str | None = None  # set when the raw id had to be rewritten


_current: contextvars.ContextVar[SessionInfo | None] = contextvars.ContextVar("threadline_session", default=None)


def current_session() -> SessionInfo | None:
    """The innermost explicit session scope active here, or ``None``."""
    return _current.get()


_Token = tuple[contextvars.Token, Any]


def _enter(info: SessionInfo) -> _Token:
    """Make ``info`` the current session; with ``propagate_session``, also put it in W3C baggage.

    Baggage travels in the ``baggage`` header of every outgoing request an
    OpenTelemetry HTTP instrumentation makes, so the next service can join the
    session. The ids are then visible to every service (and proxy) on the way.
    """
    otel_token = None
    if _state.state.settings.propagate_session:
        from opentelemetry import baggage
        from opentelemetry import context as otel_context

        ctx = baggage.set_baggage(sc.BAGGAGE_SESSION_ID, info.session_id)
        if info.user_id is not None:
            ctx = baggage.set_baggage(sc.BAGGAGE_USER_ID, info.user_id, ctx)
        otel_token = otel_context.attach(ctx)
    return _current.set(info), otel_token


def _leave(token: _Token) -> None:
    session_token, otel_token = token
    if otel_token is not None:
        from opentelemetry import context as otel_context

        otel_context.detach(otel_token)
    _current.reset(session_token)


def session_from_baggage(mapper: Callable[[str], str] | None = None) -> SessionInfo | None:
    """The session (and user) id carried in from another service by W3C baggage, if any.

    Used when a trace has no explicit or framework id and ``propagate_session``
    is on; validated like any id (and mapped by ``session_id_from``).
    """
    from opentelemetry import baggage

    found = resolve_framework_session(
        baggage.get_all(),
        keys=(sc.BAGGAGE_SESSION_ID,),
        mapper=mapper,
        user_hint=baggage.get_baggage(sc.BAGGAGE_USER_ID),
    )
    if found is None:
        return None
    return SessionInfo(found.session_id, found.user_id, source="baggage", original_id=found.original_id)


_warned_ids: set[str] = set()


def validate_id(raw: Any, *, what: str = "session id") -> tuple[str, str | None] | None:
    """Return ``(id, original_or_None)`` for a raw id, or ``None`` if unusable.

    Printable US-ASCII strings under 200 characters pass unchanged (ints and
    UUIDs as their text). Anything else that is not empty (non-ASCII, control
    characters, too long, any other non-string) is turned into a stable short
    form ``h-<sha256 prefix>`` with one warning per distinct value; the
    original (its repr for a non-string) is returned alongside so it can be
    kept in an attribute. ``None`` and empty strings give ``None``.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, (int, uuid.UUID)):
        raw = str(raw)  # how thread ids are commonly written: their text is the id
    elif not isinstance(raw, str):
        # Any other object's text (often a repr with an address) is no id: hash it.
        try:
            raw = repr(raw)
        except Exception:
            logger.warning("threadline: ignoring a %s whose repr() fails", what)
            return None
        return _short_form(raw, what)
    if not raw.strip():
        return None
    if len(raw) < MAX_ID_LENGTH and raw.isascii() and raw.isprintable():
        return raw, None
    return _short_form(raw, what)


def _short_form(raw: str, what: str) -> tuple[str, str]:
    short = "h-" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if short not in _warned_ids and len(_warned_ids) < 10_000:
        _warned_ids.add(short)
        logger.warning(
            "threadline: %s %r is not printable ASCII under %d characters; using %s "
            "(the original is kept in an attribute)",
            what,
            raw[:60] + ("..." if len(raw) > 60 else ""),
            MAX_ID_LENGTH,
            short,
        )
    return short, raw[:1000]


class session:  # noqa: N801 - used like a function, as contextlib helpers are
    """Put every trace started inside this scope into one session.

    Usable as a context manager (``with`` / ``async with``) and as a decorator
    of sync, async and generator functions. Scopes nest; the innermost wins.

    >>> with threadline.session("chat-42", user_id="u-1", tags=["support"]):
    ...     graph.invoke(...)
    """

    def __init__(
        self,
        session_id: Any,
        *,
        user_id: Any = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        raw = _state.state.settings.map_session_id(session_id)
        checked = validate_id(raw)
        if checked is None:
            raise ValueError(f"threadline.session() needs a non-empty session id, got {session_id!r}")
        user = validate_id(user_id, what="user id")
        self.info = SessionInfo(
            session_id=checked[0],
            user_id=user[0] if user else None,
            tags=tuple(str(t) for t in tags) if tags else (),
            metadata=_attribute_values(metadata) if metadata else {},
            source="explicit",
            original_id=checked[1],
        )
        self._tokens: list[_Token] = []

    def __enter__(self) -> SessionInfo:
        self._tokens.append(_enter(self.info))
        return self.info

    def __exit__(self, *exc: object) -> None:
        _leave(self._tokens.pop())

    async def __aenter__(self) -> SessionInfo:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()

    def __call__(self, func: F) -> F:
        info = self.info
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _enter(info)
                try:
                    agen = func(*args, **kwargs)
                finally:
                    _leave(token)
                async for item in _scoped_agen(agen, info):
                    yield item

            return agen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _enter(info)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _leave(token)

            return async_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                gen = func(*args, **kwargs)
                while True:
                    token = _enter(info)
                    try:
                        item = next(gen)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        _leave(token)
                    yield item

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _enter(info)
            try:
                return func(*args, **kwargs)
            finally:
                _leave(token)

        return wrapper  # type: ignore[return-value]


def _attribute_values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Session metadata as span attribute values, computed once per scope.

    Numbers and booleans are kept; anything else becomes text (JSON for
    structures) capped like captured content, so an odd object can neither
    break nor bloat every span of the session.
    """
    from threadline.content import DEFAULT_MAX_CHARS, render, truncate

    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, (bool, int, float)):
            out[str(key)] = value
        else:
            out[str(key)] = truncate(render(value), DEFAULT_MAX_CHARS)[0]
    return out


async def _scoped_agen(agen: Any, info: SessionInfo) -> Any:
    while True:
        token = _enter(info)
        try:
            item = await agen.__anext__()
        except StopAsyncIteration:
            return
        finally:
            _leave(token)
        yield item


def _hint_value(hints: Mapping[str, Any], key: str) -> Any:
    value = hints.get(key)
    return None if value is None or value == "" else value


def resolve_framework_session(
    hints: Mapping[str, Any] | None,
    *,
    keys: Sequence[str],
    mapper: Callable[[str], str] | None,
    user_hint: Any = None,
) -> SessionInfo | None:
    """Pick a session from a run's framework ids by key order, mapped and validated."""
    if not hints:
        return None
    for key in keys:
        raw = _hint_value(hints, key)
        if raw is None:
            continue
        if mapper is not None:
            try:
                raw = mapper(raw if isinstance(raw, str) else str(raw))
            except Exception:
                logger.warning("threadline: session_id_from raised; using the raw id", exc_info=True)
        checked = validate_id(raw)
        if checked is None:
            continue
        user = validate_id(user_hint, what="user id") if user_hint is not None else None
        return SessionInfo(
            session_id=checked[0],
            user_id=user[0] if user else None,
            source=key,
            original_id=checked[1],
        )
    return None
