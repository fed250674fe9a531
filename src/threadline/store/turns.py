"""Reading one session as a conversation: its summary and its turns (one per trace) in time order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from threadline import semconv as sc
from threadline.store.reading import Db, fetch, loads, reading
from threadline.store.results import InterruptInfo, SessionDetail, Turn, display
from threadline.store.sessions import find_session_id, session_summaries
from threadline.store.spans import attribute_values, session_span_outline
from threadline.store.traces import TRACE_SELECT, trace_fields

__all__ = ["get_session"]

# The captured values a turn shows, read only from the few spans that carry them.
_TURN_VALUES = (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE, sc.INTERRUPT_VALUES, sc.RESUME_VALUE, sc.RESUME_INTERRUPT_IDS)


@dataclass(frozen=True)
class _TurnSpan:
    rowid: int
    trace_id: str
    span_id: str
    name: str
    kind: str | None
    status_code: str
    status_message: str | None
    interrupt_ids: str | None
    is_resume: int


@dataclass(frozen=True)
class _TurnPlan:
    """Which spans of a trace carry its input/output, its resume and its interrupts."""

    fields: dict[str, Any]
    spans: list[_TurnSpan]
    carrier: _TurnSpan | None
    resumer: _TurnSpan | None

    @property
    def rowids(self) -> set[int]:
        ids = {s.rowid for s in self.spans if s.interrupt_ids is not None}
        ids.update(s.rowid for s in (self.carrier, self.resumer) if s is not None)
        return ids


def _plan(fields: dict[str, Any], spans: list[_TurnSpan]) -> _TurnPlan:
    root = next((s for s in spans if s.span_id == fields["root_span_id"]), None)
    # The turn's input and output are its root's. A root threadline did not build
    # (the user's own request span) has none: take the outermost threadline span's.
    carrier = root
    if root is None or root.kind is None:
        carrier = next((s for s in spans if s.kind is not None), root)
    resumer = root if root is not None and root.is_resume else next((s for s in spans if s.is_resume), None)
    return _TurnPlan(fields, spans, carrier, resumer)


def get_session(db: Db, session_id: str) -> SessionDetail | None:
    """A session's aggregate and its turns in time order; ``None`` when the store has no such session.

    ``session_id`` may also be the original id of a session whose id was
    shortened. Each turn is one trace with the root's input and output, its
    outcome, tokens, cost and duration, the interrupts it raised (ids and
    payloads) and, for a resume, the value it resumed with.
    """
    with reading(db) as conn:
        found = find_session_id(conn, session_id)
        if found is None:
            return None
        summaries = session_summaries(conn, [found])
        if not summaries:
            return None
        trace_rows = fetch(conn, TRACE_SELECT + "WHERE t.session_id = ? ORDER BY t.start_ns, t.trace_id", (found,))
        by_trace: dict[str, list[_TurnSpan]] = {}
        for row in session_span_outline(conn, found):
            by_trace.setdefault(row[1], []).append(_TurnSpan(*row))
        plans = [_plan(trace_fields(row), by_trace.get(row[0], [])) for row in trace_rows]
        values = attribute_values(conn, set().union(*(p.rowids for p in plans)) if plans else set(), _TURN_VALUES)
        links = fetch(conn, "SELECT trace_id, interrupt_ids, checkpoint_ids FROM traces WHERE session_id = ?", (found,))
    turns = [_turn(index, plan, values) for index, plan in enumerate(plans, start=1)]
    return SessionDetail(summary=summaries[0], turns=_join_resumes(turns, links))


def _join_resumes(turns: list[Turn], links: list[tuple[Any, ...]]) -> list[Turn]:
    """Name the interrupts a resume answers when its process did not know them (a pause in another process).

    The paused trace and the resumed one share the checkpoint the graph stopped at:
    the resume answers the interrupts of the latest earlier paused turn with that checkpoint.
    """
    checkpoints = {tid: set(loads(c) or ()) for tid, _, c in links}
    raised = {tid: [str(i) for i in loads(i) or ()] for tid, i, _ in links}
    out: list[Turn] = []
    for turn in turns:
        if turn.is_resume and not turn.resume_interrupt_ids and checkpoints.get(turn.trace_id):
            mine = checkpoints[turn.trace_id]
            paused = [t for t in out if raised.get(t.trace_id) and checkpoints.get(t.trace_id, set()) & mine]
            if paused:
                turn = replace(turn, resume_interrupt_ids=tuple(raised[paused[-1].trace_id]))
        out.append(turn)
    return out


def _interrupts(spans: list[_TurnSpan], values: dict[int, list[Any]]) -> tuple[InterruptInfo, ...]:
    """The interrupts raised in a trace, by id (a pause may be recorded on a node and on its graph)."""
    found: list[InterruptInfo] = []
    seen: set[str] = set()
    for span in spans:
        if span.interrupt_ids is None:
            continue
        raw_ids = loads(span.interrupt_ids)
        ids = [str(i) for i in raw_ids] if isinstance(raw_ids, list) else [str(raw_ids)]
        text = values.get(span.rowid, [None] * len(_TURN_VALUES))[2]
        payloads = loads(text) if text is not None else None
        if isinstance(payloads, list) and len(payloads) == len(ids):
            pairs: list[tuple[str | None, Any]] = list(zip(ids, payloads, strict=True))
        elif isinstance(payloads, list) and not ids:
            pairs = [(None, v) for v in payloads]
        else:
            # Not one value per id (cut by the size cap, redacted, or ids missing): keep it whole.
            pairs = [(",".join(ids) or None, payloads)]
        for interrupt_id, value in pairs:
            key = interrupt_id if interrupt_id is not None else display(value)
            if key not in seen:
                seen.add(key)
                found.append(InterruptInfo(id=interrupt_id, value=value))
    return tuple(found)


def _turn(index: int, plan: _TurnPlan, values: dict[int, list[Any]]) -> Turn:
    empty = [None] * len(_TURN_VALUES)
    carried = values.get(plan.carrier.rowid, empty) if plan.carrier is not None else empty

    failed = next((s for s in plan.spans if s.status_code == "ERROR"), None)
    error = None
    if failed is not None:
        error = f"{failed.name}: {failed.status_message}" if failed.status_message else failed.name

    resume_value = None
    resume_ids: tuple[str, ...] = ()
    if plan.resumer is not None:
        resumed = values.get(plan.resumer.rowid, empty)
        resume_value = resumed[3]
        ids = resumed[4] if resumed[4] is not None else []
        resume_ids = tuple(str(i) for i in ids) if isinstance(ids, list) else (str(ids),)

    return Turn(
        **plan.fields,
        index=index,
        input=carried[0],
        output=carried[1],
        error=error,
        interrupts=_interrupts(plan.spans, values),
        resume_value=resume_value,
        resume_interrupt_ids=resume_ids,
    )
