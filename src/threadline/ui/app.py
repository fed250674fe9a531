"""The web view's Starlette application: pages over the store and one write route.

=========================  =====================================================
``GET /``                  the sessions table: sortable, filtered by user and
                           time, paginated in SQL
``GET /sessions/{id}``     a session's conversation as a timeline of turns
``GET /export/{id}``       the session's spans and scores as JSON lines (a
                           download; ``threadline import`` reads it back)
``GET /traces/{id}``       a trace's span tree as a waterfall
``POST /annotate``         a score on a session or a trace, from the form on
                           those pages (same origin and a CSRF token required:
                           :mod:`threadline.ui.annotate`); absent with
                           ``read_only``
``GET /search``            full-text search; ``/traces`` the traces table;
                           ``/dashboard`` charts (:mod:`threadline.ui.explore`)
``GET /static/...``        the stylesheet and icon (no network assets, no JS)
=========================  =====================================================

There is no other route: any other method is ``405``.
Pages are rendered per request from a fresh read-only connection and sent
with ``Cache-Control: no-store``, so a reload shows spans written since.
Only ``Host: 127.0.0.1`` / ``localhost`` is served (a DNS-rebinding page
cannot read traces through the browser), and the pages carry a strict
Content-Security-Policy.
"""

from __future__ import annotations

import io
import math
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from threadline import semconv as sc
from threadline.formatting import fmt_cost, fmt_duration, fmt_time, fmt_tokens
from threadline.safe_text import clean
from threadline.store import lifecycle, queries
from threadline.store import scores as score_store
from threadline.store.results import scores_text
from threadline.store.schema import StoreError, StoreNotFoundError, resolve_path
from threadline.ui import explore, views
from threadline.ui.annotate import Annotator, RefusedError
from threadline.ui.params import DEFAULT_PAGE_SIZE, PAGE_SIZES, label_param, link, page_number, per_page, time_param
from threadline.ui.store import check_store, reading

__all__ = ["ALLOWED_HOSTS", "PAGE_SIZES", "create_app"]

ALLOWED_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_SORT = "-last_trace"
STATIC_DIR = Path(__file__).parent / "static"

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a form's POST carries ``Origin: null``, which the
    # annotate route's same-origin check must refuse; other origins still get no referrer.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Column:
    """A sessions-table column: its heading, sort field (``None``: not sortable) and tooltip."""

    label: str
    sort: str | None
    title: str = ""
    numeric: bool = True


SESSION_COLUMNS: tuple[Column, ...] = (
    Column("Session", "session_id", "Session id", numeric=False),
    Column("First trace", "first_trace", "Start of the first trace (local time)", numeric=False),
    Column("Last trace", "last_trace", "End of the last trace (local time)", numeric=False),
    Column("Duration", "duration_ms", "First trace start to last trace end"),
    Column("Traces", "traces", "Traces (turns) in the session"),
    Column("Errors", "errors", "Traces with an error; interrupts never count"),
    Column("Interrupted", "interrupted", "Traces that paused for a human"),
    Column("Users", None, "User ids seen in the session", numeric=False),
    Column("Models", None, "Models called", numeric=False),
    Column("Environment", None, "Deployment environment of the latest trace that has one", numeric=False),
    Column("Tags", None, "Tags of the session's traces", numeric=False),
    Column("In", "input_tokens", "Input tokens (cached input included)"),
    Column("Out", "output_tokens", "Output tokens (reasoning included)"),
    Column("Cached", "cache_read_tokens", "Cache-read input tokens"),
    Column("Reasoning", "reasoning_tokens", "Reasoning output tokens"),
    Column("Cost", "cost_usd", "Cost in USD (blank when no model had a known price)"),
    Column("TTFT", "ttft_median_ms", "Median time to first token over streamed calls"),
    Column("Scores", None, "Mean of each numeric or boolean score; count of each category", numeric=False),
)


def export_url(session_id: str) -> str:
    """The download of a session's JSON lines (under its own prefix: a session id may hold ``/``)."""
    return "/export/" + quote(session_id, safe="")


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(session_id: str) -> str:
    """A file name for a session's export that no browser or shell reads as anything but a name."""
    return (_UNSAFE_FILENAME.sub("_", session_id).strip("._") or "session")[:80] + ".jsonl"


def session_url(session_id: str) -> str:
    """The session page's path (any id: slashes and all are escaped)."""
    return "/sessions/" + quote(session_id, safe="")


def trace_url(trace_id: str) -> str:
    """The trace page's path."""
    return "/traces/" + quote(trace_id, safe="")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("threadline.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_inert,
    )
    env.filters.update(
        duration=fmt_duration,
        tokens=fmt_tokens,
        cost=fmt_cost,
        when=fmt_time,
        when_short=views.fmt_time_short,
        session_url=session_url,
        export_url=export_url,
        trace_url=trace_url,
        thousands=lambda n: "-" if n is None else f"{n:,}",
        scores_text=scores_text,
    )
    env.globals.update(usage_parts=views.usage_parts, preview_chars=views.PREVIEW_CHARS)
    return env


def _inert(value: Any) -> Any:
    """Every ``{{ ... }}`` output loses its control characters (then autoescape escapes it)."""
    if isinstance(value, Markup):
        return Markup(clean(value))
    return clean(value) if isinstance(value, str) else value


class _Pages:
    """The request handlers, bound to one store path and one template environment."""

    def __init__(self, db: Path, *, read_only: bool = False) -> None:
        self.db = db
        self.env = _environment()
        self.read_only = read_only
        self.annotator = Annotator(db)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(db=str(self.db), read_only=self.read_only, **context)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def store_problem(self, exc: StoreError) -> HTMLResponse:
        message = check_store(self.db) or str(exc)
        missing = isinstance(exc, StoreNotFoundError)
        title = "No trace store yet" if missing else "Cannot read the trace store"
        return self.render("message.html", status=503, title=title, message=message, missing=missing)

    # --- pages ----------------------------------------------------------------------------

    def sessions(self, request: Request) -> Response:
        args = request.query_params
        user = (args.get("user") or "").strip() or None
        since_text = (args.get("since") or "").strip()
        until_text = (args.get("until") or "").strip()
        sort = args.get("sort") or DEFAULT_SORT
        if sort.lstrip("-") not in queries.SESSION_PAGE_ORDER_KEYS:
            sort = DEFAULT_SORT
        per = per_page(args.get("per"))
        problems: list[str] = []
        page = page_number(args.get("page"), per, problems)
        since = time_param(since_text, "since", problems)
        until = time_param(until_text, "until", problems)
        environment = label_param(args.get("environment"), "environment", problems)
        tag = label_param(args.get("tag"), "tag", problems)
        filters = {
            "user": user or "",
            "since": since_text,
            "until": until_text,
            "environment": environment or "",
            "tag": tag or "",
        }
        context: dict[str, Any] = {
            "filters": filters,
            "sort": sort,
            "per": per,
            "page_sizes": PAGE_SIZES,
            "columns": SESSION_COLUMNS,
            "problems": problems,
            "link": _Links(filters, sort, per),
            "presets": (("Last hour", "-1h"), ("24 hours", "-24h"), ("7 days", "-7d"), ("30 days", "-30d")),
        }
        if problems:
            return self.render("sessions.html", status=400, result=None, users=[], pages=0, page=1, **context)
        try:
            with reading(self.db) as conn:
                result = queries.page_sessions(
                    conn,
                    user=user,
                    since=since,
                    until=until,
                    limit=per,
                    offset=(page - 1) * per,
                    order_by=sort,
                    environment=environment,
                    tag=tag,
                )
                users = queries.list_users(conn, limit=500)
        except StoreError as exc:
            return self.store_problem(exc)
        pages = max(math.ceil(result.total / per), 1)
        return self.render("sessions.html", result=result, users=users, pages=pages, page=page, **context)

    def session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        try:
            with reading(self.db) as conn:
                detail = queries.get_session(conn, session_id)
                if detail is not None:
                    own = score_store.scores_for(conn, sc.TARGET_SESSION, detail.summary.session_id)
                    by_trace = score_store.scores_by_target(conn, sc.TARGET_TRACE, [t.trace_id for t in detail.turns])
        except StoreError as exc:
            return self.store_problem(exc)
        if detail is None:
            raise HTTPException(404, f"There is no session {session_id!r} in this store.")
        turns = views.timeline(detail.turns)
        lanes = max((len(t.rails) for t in turns), default=0)
        scored = [views.ScoreView("session", None, s) for s in own]
        for t in detail.turns:
            scored += [views.ScoreView(f"turn {t.index}", t.trace_id, s) for s in by_trace.get(t.trace_id, [])]
        return self.render(
            "session.html",
            detail=detail,
            s=detail.summary,
            turns=turns,
            lanes=lanes,
            scores=scored,
            annotate=self._form(sc.TARGET_SESSION, detail.summary.session_id),
        )

    def export(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        out = io.StringIO()
        try:
            with reading(self.db) as conn:
                written = lifecycle.export_session(conn, session_id, out)
        except StoreError as exc:
            return self.store_problem(exc)
        if not written.spans:
            raise HTTPException(404, f"There is no session {session_id!r} in this store.")
        headers = {**_SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{download_name(session_id)}"'}
        return Response(out.getvalue(), media_type="application/x-ndjson; charset=utf-8", headers=headers)

    def trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        try:
            with reading(self.db) as conn:
                try:
                    detail = queries.get_trace(conn, trace_id)
                except queries.AmbiguousIdError as exc:
                    raise HTTPException(404, str(exc)) from None
                if detail is not None:
                    own = score_store.scores_for(conn, sc.TARGET_TRACE, detail.summary.trace_id)
        except StoreError as exc:
            return self.store_problem(exc)
        if detail is None:
            raise HTTPException(404, f"There is no trace {trace_id!r} in this store.")
        rows = views.waterfall(detail)
        root = detail.spans[0] if detail.spans else None
        linked = [t for row in rows for t in row.linked_traces]
        return self.render(
            "trace.html",
            t=detail.summary,
            rows=rows,
            root=root,
            linked=linked,
            scores=[views.ScoreView("trace", None, s) for s in own],
            annotate=self._form(sc.TARGET_TRACE, detail.summary.trace_id),
        )

    def _form(self, target_kind: str, target_id: str) -> Any:
        return None if self.read_only else self.annotator.form(target_kind, target_id)

    async def annotate(self, request: Request) -> Response:
        """``POST /annotate``: store the form's score, then back to the page it came from."""
        try:
            kind, target = await self.annotator.handle(request)
        except RefusedError as exc:
            if exc.status == 403:
                return PlainTextResponse(str(exc), status_code=403, headers=_SECURITY_HEADERS)
            title = "Not found" if exc.status == 404 else "Score not saved"
            return self.render("message.html", status=exc.status, title=title, message=str(exc), missing=False)
        except (StoreError, sqlite3.Error) as exc:
            message = f"Could not write the score to {self.db}: {exc}"
            return self.render("message.html", status=503, title="Score not saved", message=message, missing=False)
        page = session_url(target) if kind == sc.TARGET_SESSION else trace_url(target)
        return RedirectResponse(page + "#scores", status_code=303, headers=_SECURITY_HEADERS)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 404:
            detail = getattr(exc, "detail", None)
            message = detail if detail and detail != "Not Found" else f"Nothing lives at {request.url.path}."
            return self.render("message.html", status=404, title="Not found", message=message, missing=False)
        headers = dict(getattr(exc, "headers", None) or {})
        return Response(getattr(exc, "detail", "") or "", status_code=status, headers=headers or None)


class _Links:
    """Builds sessions-page URLs that keep the current filters."""

    def __init__(self, filters: dict[str, str], sort: str, per: int) -> None:
        self.filters = {k: v for k, v in filters.items() if v}
        self.sort = sort
        self.per = per

    def __call__(self, **changes: Any) -> str:
        params: dict[str, Any] = {**self.filters, "sort": self.sort, "per": self.per, **changes}
        return link("/", params, {"sort": DEFAULT_SORT, "per": DEFAULT_PAGE_SIZE, "page": 1})

    def sort_by(self, field: str) -> str:
        """Sort by ``field``: descending first, a second click flips it (back to page 1)."""
        current = self.sort.lstrip("-")
        if current == field:
            target = field if self.sort.startswith("-") else "-" + field
        else:
            target = field if field == "session_id" else "-" + field
        return self(sort=target, page=1)


def create_app(db: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Starlette:
    """The web view over the store at ``db`` (default: ``$THREADLINE_DB``, else ``.threadline/traces.db``).

    The store may be missing when the app is built (each page then says so);
    pages open it read-only for every request. Only ``POST /annotate`` writes
    (one score); ``read_only`` leaves that route and the forms out.
    """
    pages = _Pages(resolve_path(db).resolve(), read_only=read_only)
    routes = [
        Route("/", pages.sessions, methods=["GET"], name="sessions"),
        Route("/sessions/{session_id:path}", pages.session, methods=["GET"], name="session"),
        Route("/traces/{trace_id}", pages.trace, methods=["GET"], name="trace"),
        Route("/export/{session_id:path}", pages.export, methods=["GET"], name="export"),
        *explore.routes(pages),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if not read_only:
        routes.insert(3, Route("/annotate", pages.annotate, methods=["POST"], name="annotate"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(ALLOWED_HOSTS))],
        exception_handlers={HTTPException: pages.http_error},
    )
    app.state.annotator = None if read_only else pages.annotator
    return app
