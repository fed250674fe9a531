"""A store for the web view's tests, written by threadline's real core (emitter, SQLite exporter).

``record_support(db)`` writes session ``support-1`` (user ``user-1``, then the
human ``agent-7``): a streamed answer, a turn whose tool fails, a graph turn
that pauses for a human and the turn that resumes it (linked to it); session
``sales-2`` (``user-2``) with one Claude turn; and one trace with no session.
Times are fixed relative to a base an hour ago, so durations are known. It
returns what a user would check, computed without the store (costs from
genai-prices).

``bulk_sessions(db, n)`` fills a store with ``n`` small sessions by direct
INSERT (the shape the exporter writes), for the paging tests.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import GraphPause, GraphResume, Interrupt, ModelCall, Run, SpanKind, ToolCall
from threadline.store import rollups
from threadline.store.schema import open_store
from threadline.usage import Usage

MS = 1_000_000
S = 1000 * MS
SONNET = "claude-sonnet-4-5"
QUESTION_1 = "What is 2 + 2?"
ANSWER_1 = "2 + 2 = 4."
QUESTION_2 = "Where is order 1234?"
TOOL_ERROR = "order service unavailable"
QUESTION_3 = "Please refund order 1234."
INTERRUPT_ID = "int-approve-1"
INTERRUPT_PAYLOAD = {"question": "Refund 40 EUR to order 1234?", "amount": 40}
RESUME_VALUE = "yes, refund it"
ANSWER_4 = "Refunded 40 EUR to order 1234."
SALES_QUESTION = "Which plan fits a team of 12?"
SALES_ANSWER = "The Team plan: up to 20 seats."
# Captured text as an attacker would write it: terminal escapes, a bell, Rich markup, HTML.
HOSTILE = "\x1b[31mred\x07 [bold]markup[/bold] <script>alert(1)</script> refund?\nnext line"


def price(model: str, provider: str, **tokens: int) -> float:
    """genai-prices' own total for one call, in USD."""
    return float(calc_price(PriceUsage(**tokens), model, provider_id=provider).total_price)


def messages(*pairs: tuple[str, str]) -> dict[str, list[dict[str, str]]]:
    """A LangGraph-style ``{"messages": [...]}`` state."""
    return {"messages": [{"role": role, "content": content} for role, content in pairs]}


@dataclass
class Support:
    """What ``record_support`` wrote."""

    db: Path
    base_ns: int
    trace_ids: dict[str, str] = field(default_factory=dict)  # turn label -> trace id
    support_cost: float = 0.0
    sales_cost: float = 0.0


def _hex(handle: object) -> str:
    return format(handle.span_context.trace_id, "032x")  # type: ignore[attr-defined]


def record_support(db: Path) -> Support:
    """Write the scenario of the module docstring into ``db`` through the real core; see above."""
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    emitter = current_emitter()
    base = time.time_ns() - 3600 * S
    out = Support(db=db, base_ns=base)

    with threadline.session("support-1", user_id="user-1", tags=["support"]):
        # Turn 1: a streamed answer (2.4 s, first token after 350 ms).
        root = emitter.start(
            Run(name="support-graph", run_kind=SpanKind.GRAPH, inputs=messages(("user", QUESTION_1))),
            start_ns=base,
        )
        call = emitter.start(
            ModelCall(
                name="ChatOpenAI", provider="openai", request_model="gpt-4o-mini", streamed=True, inputs=QUESTION_1
            ),
            parent=root,
            start_ns=base + 100 * MS,
        )
        emitter.first_token(call, at_ns=base + 450 * MS)
        call.record.usage = Usage(input_tokens=1500, output_tokens=200, cache_read_tokens=1024, total_tokens=1700)
        call.record.response_model = "gpt-4o-mini-2024-07-18"
        call.record.outputs = ANSWER_1
        emitter.end(call, end_ns=base + 2300 * MS)
        root.record.outputs = messages(("user", QUESTION_1), ("assistant", ANSWER_1))
        emitter.end(root, end_ns=base + 2400 * MS)
        out.trace_ids["turn1"] = _hex(root)

        # Turn 2: the order tool fails; the turn is an error.
        t2 = base + 60 * S
        root = emitter.start(
            Run(name="support-graph", run_kind=SpanKind.GRAPH, inputs=messages(("user", QUESTION_2))), start_ns=t2
        )
        tool = emitter.start(ToolCall(name="order_lookup", inputs={"order": 1234}), parent=root, start_ns=t2 + 50 * MS)
        emitter.end(tool, error=LookupError(TOOL_ERROR), end_ns=t2 + 1250 * MS)
        emitter.end(root, error=LookupError(TOOL_ERROR), end_ns=t2 + 1300 * MS)
        out.trace_ids["turn2"] = _hex(root)

        # Turn 3: the graph pauses for a human at the "approve" node.
        t3 = base + 120 * S
        graph = emitter.start(
            Run(name="support-graph", run_kind=SpanKind.GRAPH, inputs=messages(("user", QUESTION_3))), start_ns=t3
        )
        node = emitter.start(
            Run(name="approve", run_kind=SpanKind.NODE, node="approve", step=2), parent=graph, start_ns=t3 + 10 * MS
        )
        emitter.pause(node, GraphPause(interrupts=[Interrupt(id=INTERRUPT_ID, value=INTERRUPT_PAYLOAD)]))
        emitter.end(node, end_ns=t3 + 700 * MS)
        emitter.end(graph, end_ns=t3 + 800 * MS)
        out.trace_ids["turn3"] = _hex(graph)

    # Turn 4: the human (another user) answers three minutes later; a reasoning model finishes.
    with threadline.session("support-1", user_id="agent-7"):
        t4 = t3 + 800 * MS + 185 * S
        resume = emitter.start(
            Run(
                name="support-graph",
                run_kind=SpanKind.GRAPH,
                resume=GraphResume(interrupt_ids=[INTERRUPT_ID], value=RESUME_VALUE, linked_trace=graph.span_context),
            ),
            start_ns=t4,
        )
        call = emitter.start(
            ModelCall(name="ChatOpenAI", provider="openai", request_model="o3-mini", streamed=True),
            parent=resume,
            start_ns=t4 + 20 * MS,
        )
        emitter.first_token(call, at_ns=t4 + 1020 * MS)
        call.record.usage = Usage(input_tokens=400, output_tokens=600, reasoning_tokens=512)
        call.record.outputs = ANSWER_4
        emitter.end(call, end_ns=t4 + 3900 * MS)
        resume.record.outputs = messages(("assistant", ANSWER_4))
        emitter.end(resume, end_ns=t4 + 4000 * MS)
        out.trace_ids["turn4"] = _hex(resume)

    with threadline.session("sales-2", user_id="user-2"):
        t5 = base + 30 * S
        root = emitter.start(Run(name="sales-agent", run_kind=SpanKind.AGENT, inputs=SALES_QUESTION), start_ns=t5)
        call = emitter.start(
            ModelCall(name="chat", provider="anthropic", request_model=SONNET, inputs=SALES_QUESTION),
            parent=root,
            start_ns=t5 + 5 * MS,
        )
        call.record.usage = Usage(
            input_tokens=2600, output_tokens=300, cache_read_tokens=2000, cache_write_tokens=500, total_tokens=2900
        )
        call.record.outputs = SALES_ANSWER
        emitter.end(call, end_ns=t5 + 1500 * MS)
        root.record.outputs = SALES_ANSWER
        emitter.end(root, end_ns=t5 + 1600 * MS)
        out.trace_ids["sales"] = _hex(root)

    lone = emitter.start(Run(name="nightly-job", run_kind=SpanKind.OBSERVE), start_ns=base + 200 * S)
    emitter.end(lone, end_ns=base + 201 * S)
    out.trace_ids["lone"] = _hex(lone)

    threadline.flush()
    out.support_cost = price(
        "gpt-4o-mini", "openai", input_tokens=1500, output_tokens=200, cache_read_tokens=1024
    ) + price("o3-mini", "openai", input_tokens=400, output_tokens=600)
    out.sales_cost = price(
        SONNET, "anthropic", input_tokens=2600, output_tokens=300, cache_read_tokens=2000, cache_write_tokens=500
    )
    return out


@pytest.fixture(name="support")
def support_fixture(tmp_path: Path) -> Support:
    """A store holding :func:`record_support`'s scenario (import it into a test module to use it)."""
    return record_support(tmp_path / "traces.db")


def client(db: Path) -> object:
    """A test client of the web view over ``db``, as a browser on 127.0.0.1 would send requests."""
    from starlette.testclient import TestClient

    from threadline.ui import create_app

    return TestClient(create_app(db), base_url="http://127.0.0.1")


def add_turn(db: Path, session_id: str, text: str) -> None:
    """One more traced turn in ``session_id``, written through the core (as a running app would)."""
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    emitter = current_emitter()
    with threadline.session(session_id, user_id="late-user"):
        root = emitter.start(Run(name="late-turn", run_kind=SpanKind.GRAPH, inputs=text))
        root.record.outputs = "ok"
        emitter.end(root)
    threadline.flush()


def record_hostile(db: Path, *, capture: bool = True) -> str:
    """One trace in session ``hostile`` whose input is :data:`HOSTILE` (and a reply mentioning a refund); its id."""
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[], capture_content=capture)
    emitter = current_emitter()
    with threadline.session("hostile", user_id="mallory"):
        root = emitter.start(Run(name="graph", run_kind=SpanKind.GRAPH, inputs=HOSTILE))
        call = emitter.start(ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini"), parent=root)
        call.record.outputs = "a refund was never promised"
        emitter.end(call)
        root.record.outputs = "done"
        emitter.end(root)
    threadline.flush()
    threadline.uninstrument()
    return _hex(root)


_BULK_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "span_kind", "start_ns", "end_ns", "status_code",
    "outcome", "session_id", "user_id", "model", "provider", "input_tokens", "output_tokens", "cost_usd",
    "attributes",
)  # fmt: skip


def bulk_sessions(db: Path, n: int, *, base_ns: int | None = None) -> None:
    """``n`` sessions ``bulk-00000`` ... of one trace each (a graph root and a model call), by direct INSERT.

    Session ``i`` starts ``i`` seconds after ``base_ns``, uses ``(i % 7) + 1``
    input tokens per ten and belongs to ``user-(i % 10)``.
    """
    base = base_ns if base_ns is not None else time.time_ns() - 30 * 86400 * S
    rows = []
    for i in range(n):
        sid = f"bulk-{i:05d}"
        trace = f"{i + 1:032x}"
        root, child = f"{2 * i + 1:016x}", f"{2 * i + 2:016x}"
        start = base + i * S
        user = f"user-{i % 10}"
        attrs = json.dumps({sc.SESSION_ID: sid, sc.USER_ID: user})
        rows.append((trace, root, None, "graph", "graph", "INTERNAL", start, start + 900 * MS, "UNSET", "ok",
                     sid, user, None, None, None, None, None, attrs))  # fmt: skip
        rows.append((trace, child, root, "chat gpt-4o-mini", "model", "CLIENT", start + MS, start + 800 * MS, "UNSET",
                     "ok", sid, user, "gpt-4o-mini", "openai", ((i % 7) + 1) * 10, 5, 0.00001 * ((i % 7) + 1),
                     attrs))  # fmt: skip
    conn = open_store(db)
    try:
        conn.execute("BEGIN")
        placeholders = ", ".join("?" for _ in _BULK_COLUMNS)
        conn.executemany(f"INSERT INTO spans ({', '.join(_BULK_COLUMNS)}) VALUES ({placeholders})", rows)
        rollups.refresh(conn, {row[0] for row in rows})  # as the exporter does, in the same transaction
        conn.execute("COMMIT")
    finally:
        conn.close()


# --- reading the HTML the way a user reads the page --------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    """An element of a parsed page."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        """The text, whitespace collapsed; element boundaries count as a space (as a reader hears them)."""
        parts: list[str] = []

        def walk(node: Node | str) -> None:
            if isinstance(node, str):
                parts.append(node)
            else:
                for child in node.children:
                    walk(child)
                    parts.append(" ")

        walk(self)
        return " ".join("".join(parts).split())

    def classes(self) -> set[str]:
        """The element's CSS classes."""
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        """Descendants matching the tag, a CSS class and attribute values (``data_outcome`` for ``data-outcome``)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (
                (tag is None or child.tag == tag)
                and (cls is None or cls in child.classes())
                and all(child.attrs.get(k) == v for k, v in wanted.items())
            ):
                found.append(child)
            found.extend(child.find_all(tag, cls, **attrs))
        return found

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        """The first match; fails the test when there is none."""
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'}> class={cls!r} {attrs} in the page"
        return found[0]


def parse(html: str) -> Node:
    """The page as a tree of :class:`Node`."""
    from html.parser import HTMLParser

    root = Node("#document", {})
    stack = [root]

    class Builder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            node = Node(tag, {k: v or "" for k, v in attrs})
            stack[-1].children.append(node)
            if tag not in _VOID:
                stack.append(node)

        def handle_endtag(self, tag: str) -> None:
            for i in range(len(stack) - 1, 0, -1):
                if stack[i].tag == tag:
                    del stack[i:]
                    break

        def handle_data(self, data: str) -> None:
            stack[-1].children.append(data)

    builder = Builder(convert_charrefs=True)
    builder.feed(html)
    builder.close()
    return root


def session_rows(html: str) -> list[dict[str, str]]:
    """The sessions table as ``{column heading: cell text}`` rows."""
    return table_rows(html, "sessions")


def table_rows(html: str, cls: str) -> list[dict[str, str]]:
    """The first table of class ``cls`` as ``{column heading: cell text}`` rows (``[]`` without one)."""
    page = parse(html)
    tables = page.find_all("table", cls)
    if not tables:
        return []
    headings = [th.text().rstrip("▲▼ ") for th in tables[0].find_all("th")]
    rows = []
    for tr in tables[0].find("tbody").find_all("tr"):
        cells = [td.text() for td in tr.find_all("td")]
        rows.append(dict(zip(headings, cells, strict=True)))
    return rows
