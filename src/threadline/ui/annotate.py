"""The web view's one write route, ``POST /annotate``: a score on a session or a trace.

A page served by the view may write; nothing else may. Three checks, any
failure a ``403`` before the body is read as a score:

* the request comes from this origin: ``Origin`` (else ``Referer``) is
  ``http://`` + the ``Host`` the view answered (itself checked to be
  127.0.0.1 / localhost by the app's middleware); a request with neither
  header is refused;
* the form carries the CSRF token of its target: an HMAC of the target under a
  secret made when the app starts (never stored, never sent except in forms),
  compared in constant time;
* the body is a small ``application/x-www-form-urlencoded`` form.

The values are then checked as :func:`threadline.score` checks them (``400``
with the reason otherwise). ``threadline ui --read-only`` builds the app
without this route and without the forms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from threadline.score_values import TARGET_KINDS, parse_value
from threadline.semconv import TARGET_SESSION, TARGET_TRACE
from threadline.store import scores as score_store
from threadline.store.schema import connection

__all__ = ["MAX_BODY_BYTES", "AnnotateForm", "Annotator", "RefusedError"]

MAX_BODY_BYTES = 16_384
FORM_TYPE = "application/x-www-form-urlencoded"
SOURCE = "annotation"


class RefusedError(Exception):
    """The request may not write (status 403) or is not a usable form (400); the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AnnotateForm:
    """What a page's form needs: the target and its CSRF token."""

    target_kind: str
    target_id: str
    token: str


class Annotator:
    """Issues and checks CSRF tokens, and turns an allowed request into a stored score."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._secret = secrets.token_bytes(32)

    def token(self, target_kind: str, target_id: str) -> str:
        """The CSRF token of a form that scores ``target_kind`` ``target_id``."""
        message = f"annotate\x00{target_kind}\x00{target_id}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def form(self, target_kind: str, target_id: str) -> AnnotateForm:
        """The form for one page's target."""
        return AnnotateForm(target_kind, target_id, self.token(target_kind, target_id))

    async def handle(self, request: Request) -> tuple[str, str]:
        """Check ``request`` and store its score; returns ``(target kind, target id)``. Raises :class:`RefusedError`."""
        _check_origin(request)
        fields = await _read_form(request)
        kind, target = fields.get("target_kind", ""), fields.get("target_id", "")
        if kind not in TARGET_KINDS or not target:
            raise RefusedError(400, "the form names no session or trace to score")
        if not hmac.compare_digest(fields.get("csrf_token", "").encode(), self.token(kind, target).encode()):
            raise RefusedError(403, "the form's token is missing or not this page's; reload the page and try again")
        await run_in_threadpool(self._store, kind, target, fields)  # SQLite waits on locks: not on the event loop
        return kind, target

    def _store(self, kind: str, target: str, fields: dict[str, str]) -> None:
        with connection(self.db) as conn:
            if not score_store.target_exists(conn, kind, target):
                raise RefusedError(404, f"there is no {kind} {target!r} in this store")
            try:
                score_store.add_score(
                    conn,
                    fields.get("name", "").strip(),
                    parse_value(fields.get("value", "")),
                    trace_id=target if kind == TARGET_TRACE else None,
                    session_id=target if kind == TARGET_SESSION else None,
                    comment=fields.get("comment"),
                    source=SOURCE,
                    author=fields.get("author"),
                )
            except (TypeError, ValueError) as exc:
                raise RefusedError(400, str(exc)) from None


def _check_origin(request: Request) -> None:
    host = request.headers.get("host", "")
    expected = f"{request.url.scheme}://{host}"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != expected:
            raise RefusedError(403, f"refused a write from another origin ({origin[:100]})")
        return
    referer = request.headers.get("referer")
    if referer is None:
        raise RefusedError(403, "refused a write with neither Origin nor Referer")
    parts = urlsplit(referer)
    if f"{parts.scheme}://{parts.netloc}" != expected:
        raise RefusedError(403, "refused a write referred by another origin")


async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise RefusedError(400, f"expected a form ({FORM_TYPE})")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RefusedError(400, f"the form is larger than {MAX_BODY_BYTES} bytes")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise RefusedError(400, "the form is not readable") from None
    return {key: values[0] for key, values in parsed.items()}
