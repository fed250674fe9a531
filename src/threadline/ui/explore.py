"""The web view's pages for finding and seeing: search, the traces table and the dashboard.

=========================  =====================================================
``GET /search?q=...``      traces whose captured text matches (``session=ID``
                           searches within one session); bad query syntax is a
                           400 page that says what to type instead
``GET /traces``            every trace: filters (session, user, environment,
                           outcome, model, time), sortable, paginated
``GET /dashboard``         cost and tokens per day (or hour) stacked by model,
                           traces and errors, p50/p95 latency and TTFT, as SVG
=========================  =====================================================

Registered on the app by :func:`routes`; each handler reads one snapshot
through the store's read modules (rollups and the search index, never a scan
of spans) and renders with the app's templates.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.formatting import fmt_duration, fmt_tokens
from threadline.store import queries, search, stats, trace_list
from threadline.store.schema import StoreError
from threadline.ui import charts
from threadline.ui.params import DEFAULT_PAGE_SIZE, PAGE_SIZES, link, page_number, per_page, time_param
from threadline.ui.store import reading

__all__ = ["DASHBOARD_WINDOWS", "routes"]

SEARCH_LIMIT = 100
DASHBOARD_WINDOWS = (("24 hours", "-24h", "hour"), ("7 days", "-7d", "day"), ("30 days", "-30d", "day"),
                     ("90 days", "-90d", "day"))  # fmt: skip
TRACE_COLUMNS = (
    # (heading, sort key or None, numeric)
    ("Trace", None, False),
    ("Started", "start", False),
    ("Name", None, False),
    ("Session", None, False),
    ("Outcome", None, False),
    ("Duration", "duration_ms", True),
    ("Spans", "spans", True),
    ("Tokens", "total_tokens", True),
    ("Cost", "cost_usd", True),
    ("Users", None, False),
    ("Models", None, False),
    ("Environment", None, False),
)


class Pages(Protocol):
    """What the app's page object gives these handlers."""

    db: Any

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """The page ``template`` rendered with ``context``."""
        ...

    def store_problem(self, exc: StoreError) -> Response:
        """The page that says what is wrong with the store."""
        ...


class _Handlers:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def search(self, request: Request) -> Response:
        args = request.query_params
        query = (args.get("q") or "").strip()
        session_id = (args.get("session") or "").strip() or None
        since_text = (args.get("since") or "").strip()
        problems: list[str] = []
        since = time_param(since_text, "since", problems)
        context: dict[str, Any] = {"q": query, "session": session_id, "since": since_text, "hits": None}
        if problems:
            return self.pages.render("search.html", status=400, problems=problems, **context)
        if not query:
            return self.pages.render("search.html", problems=[], **context)
        try:
            with reading(self.pages.db) as conn:
                hits = search.search(conn, query, session_id=session_id, since=since, limit=SEARCH_LIMIT)
        except search.SearchSyntaxError as exc:
            return self.pages.render("search.html", status=400, problems=[str(exc)], **context)
        except StoreError as exc:
            return self.pages.store_problem(exc)
        context["hits"] = hits
        context["limited"] = len(hits) >= SEARCH_LIMIT
        return self.pages.render("search.html", problems=[], **context)

    def traces(self, request: Request) -> Response:
        args = request.query_params
        filters = {
            name: (args.get(name) or "").strip()
            for name in ("session", "user", "environment", "outcome", "model", "since", "until")
        }
        sort = args.get("sort") or "-start"
        if sort.lstrip("-") not in trace_list.TRACE_ORDER_KEYS:
            sort = "-start"
        per = per_page(args.get("per"))
        problems: list[str] = []
        page = page_number(args.get("page"), per, problems)
        since = time_param(filters["since"], "since", problems)
        until = time_param(filters["until"], "until", problems)
        if filters["outcome"] and filters["outcome"] not in trace_list.OUTCOMES:
            problems.append(f"outcome: use one of {', '.join(trace_list.OUTCOMES)}")

        def traces_link(**changes: Any) -> str:
            params: dict[str, Any] = {**filters, "sort": sort, "per": per, "page": page, **changes}
            return link("/traces", params, {"sort": "-start", "per": DEFAULT_PAGE_SIZE, "page": 1})

        def sort_by(key: str) -> str:
            target = key if sort == "-" + key else "-" + key
            return traces_link(sort=target, page=1)

        context: dict[str, Any] = {
            "filters": filters,
            "sort": sort,
            "per": per,
            "page": page,
            "page_sizes": PAGE_SIZES,
            "outcomes": trace_list.OUTCOMES,
            "columns": TRACE_COLUMNS,
            "link": traces_link,
            "sort_by": sort_by,
            "problems": problems,
        }
        if problems:
            return self.pages.render("traces.html", status=400, result=None, choices={}, pages=0, **context)
        try:
            with reading(self.pages.db) as conn:
                result = trace_list.page_traces(
                    conn,
                    session_id=filters["session"] or None,
                    user=filters["user"] or None,
                    environment=filters["environment"] or None,
                    outcome=filters["outcome"] or None,
                    model=filters["model"] or None,
                    since=since,
                    until=until,
                    limit=per,
                    offset=(page - 1) * per,
                    order_by=sort,
                )
                choices = trace_list.trace_choices(conn)
                choices["users"] = queries.list_users(conn, limit=500)
        except StoreError as exc:
            return self.pages.store_problem(exc)
        pages = max(math.ceil(result.total / per), 1)
        return self.pages.render("traces.html", result=result, choices=choices, pages=pages, **context)

    def dashboard(self, request: Request) -> Response:
        args = request.query_params
        window = args.get("window") or "-7d"
        chosen = next((w for w in DASHBOARD_WINDOWS if w[1] == window), None)
        problems: list[str] = []
        if chosen is None:
            problems.append(f"window: use one of {', '.join(w[1] for w in DASHBOARD_WINDOWS)}")
            chosen = DASHBOARD_WINDOWS[1]
        by = args.get("by") or chosen[2]
        if by not in stats.BUCKETS:
            problems.append(f"by: use one of {', '.join(sorted(stats.BUCKETS))}")
            by = chosen[2]
        since = queries.parse_time(chosen[1])
        context: dict[str, Any] = {"windows": DASHBOARD_WINDOWS, "window": chosen[1], "by": by, "problems": problems}
        try:
            with reading(self.pages.db) as conn:
                result = stats.usage_stats(conn, since=since, by=by)
        except StoreError as exc:
            return self.pages.store_problem(exc)
        context.update(result=result, **_charts(result))
        return self.pages.render("dashboard.html", status=400 if problems else 200, **context)


def _charts(result: stats.Stats) -> dict[str, Any]:
    """The dashboard's SVG charts and their legends."""
    fmt = "%m-%d %H:00" if result.by == "hour" else "%m-%d"
    labels = [datetime.fromtimestamp(b.start_ns / 1e9).strftime(fmt) for b in result.buckets]
    models = [m.model for m in result.models]
    legend = [(m, charts.color_for(i)) for i, m in enumerate(models)]

    def per_model(value: str) -> list[charts.Series]:
        return [
            charts.Series(
                model,
                [getattr(b.models[model], value) if model in b.models else None for b in result.buckets],
                color,
            )
            for model, color in legend
        ]

    ok = [float(b.traces - b.errors - b.interrupted) for b in result.buckets]
    counts = [
        charts.Series("ok", ok, "#59a14f"),
        charts.Series("interrupted", [float(b.interrupted) for b in result.buckets], "#edc948"),
        charts.Series("errors", [float(b.errors) for b in result.buckets], "#e15759"),
    ]
    latency = [
        charts.Series("p50 latency", [b.latency_p50_ms for b in result.buckets], "#4e79a7"),
        charts.Series("p95 latency", [b.latency_p95_ms for b in result.buckets], "#4e79a7", dashed=True),
        charts.Series("p50 TTFT", [b.ttft_p50_ms for b in result.buckets], "#f28e2b"),
        charts.Series("p95 TTFT", [b.ttft_p95_ms for b in result.buckets], "#f28e2b", dashed=True),
    ]
    return {
        "legend": legend,
        "cost_chart": charts.bars(labels, per_model("cost_usd"), _money, "Cost per bucket by model"),
        "tokens_chart": charts.bars(labels, per_model("total_tokens"), _count, "Tokens per bucket by model"),
        "traces_chart": charts.bars(labels, counts, _count, "Traces per bucket by outcome", integer=True),
        "traces_legend": [(s.name, s.color) for s in counts],
        "latency_chart": charts.lines(labels, latency, lambda v: fmt_duration(v), "Turn latency and TTFT"),
        "latency_legend": [(s.name, s.color, s.dashed) for s in latency],
    }


def _money(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _count(value: float) -> str:
    return fmt_tokens(int(round(value)))


def routes(pages: Pages) -> list[Route]:
    """The search, traces and dashboard routes, bound to the app's page renderer."""
    handlers = _Handlers(pages)
    return [
        Route("/search", handlers.search, methods=["GET"], name="search"),
        Route("/traces", handlers.traces, methods=["GET"], name="traces"),
        Route("/dashboard", handlers.dashboard, methods=["GET"], name="dashboard"),
    ]
