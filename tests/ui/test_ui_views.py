"""How the session page pairs interrupts with resumes and lays out the rails that join them."""

from __future__ import annotations

from dataclasses import MISSING, fields, replace

from threadline.store.queries import InterruptInfo, Turn
from threadline.ui import views

MS = 1_000_000


def turn(
    index: int,
    outcome: str = "ok",
    *,
    interrupts: tuple[str, ...] = (),
    resumes: tuple[str, ...] | None = None,
    duration_ms: int = 100,
) -> Turn:
    """A turn as the store returns it (fields added to Turn later keep their defaults)."""
    required = {f.name: None for f in fields(Turn) if f.default is MISSING and f.default_factory is MISSING}
    start = index * 1000 * MS
    required.update(
        trace_id=f"{index:032x}",
        start_ns=start,
        end_ns=start + duration_ms * MS,
        spans=1,
        error_spans=0,
        outcome=outcome,
        is_resume=resumes is not None,
        users=(),
        models=(),
    )
    return Turn(
        **required,
        index=index,
        interrupts=tuple(InterruptInfo(id=i, value={"ask": i}) for i in interrupts),
        resume_interrupt_ids=tuple(resumes or ()),
    )


def layout(turns: list[Turn]) -> list[tuple[int | None, int | None, list[str]]]:
    return [(v.resumes, v.answered_by, v.rails) for v in views.timeline(turns)]


def test_a_resume_answers_the_turn_that_raised_its_interrupt() -> None:
    result = views.timeline(
        [turn(1), turn(2, "interrupted", interrupts=("a",)), turn(3), turn(4, "resumed", resumes=("a",))]
    )
    assert [(v.resumes, v.answered_by) for v in result] == [(None, None), (None, 4), (None, None), (2, None)]
    assert [v.rails for v in result] == [[""], ["start"], ["through"], ["end"]]
    assert result[3].wait_ms == 4000 - 2100  # from the interrupted turn's end to the resume's start


def test_interleaved_pairs_get_side_by_side_rails() -> None:
    turns = [
        turn(1, "interrupted", interrupts=("a",)),
        turn(2, "interrupted", interrupts=("b",)),
        turn(3, "resumed", resumes=("b",)),
        turn(4, "resumed", resumes=("a",)),
    ]
    assert layout(turns) == [
        (None, 4, ["start", ""]),
        (None, 3, ["through", "start"]),
        (2, None, ["through", "end"]),
        (1, None, ["end", ""]),
    ]


def test_a_resume_that_pauses_again_chains_two_pairs() -> None:
    turns = [
        turn(1, "interrupted", interrupts=("a",)),
        turn(2, "interrupted", interrupts=("b",), resumes=("a",)),
        turn(3, "resumed", resumes=("b",)),
    ]
    assert layout(turns) == [(None, 2, ["start", ""]), (1, 3, ["end", "start"]), (2, None, ["", "end"])]


def test_a_resume_without_ids_answers_the_latest_waiting_turn() -> None:
    turns = [turn(1, "interrupted"), turn(2, "interrupted"), turn(3, "resumed", resumes=())]
    assert [(r, a) for r, a, _ in layout(turns)] == [(None, None), (None, 3), (2, None)]


def test_a_resume_of_an_unknown_interrupt_is_not_paired() -> None:
    result = views.timeline([turn(1, "interrupted", interrupts=("a",)), turn(2, "resumed", resumes=("zzz",))])
    assert [(v.resumes, v.answered_by, v.rails) for v in result] == [(None, None, []), (None, None, [])]
    assert result[1].unmatched_resume


def test_rails_stop_at_the_lane_limit_but_every_pair_is_still_named() -> None:
    n = views.MAX_LANES + 1
    turns = [turn(i, "interrupted", interrupts=(f"i{i}",)) for i in range(1, n + 1)]
    turns += [turn(n + i, "resumed", resumes=(f"i{i}",)) for i in range(1, n + 1)]
    result = views.timeline(turns)
    assert all(len(v.rails) == views.MAX_LANES for v in result)
    assert [v.answered_by for v in result[:n]] == [n + i for i in range(1, n + 1)]
    assert result[n - 1].rails == ["through"] * views.MAX_LANES  # the fourth pair has no rail of its own


def test_duration_bars_are_relative_to_the_longest_turn() -> None:
    result = views.timeline([turn(1, duration_ms=500), turn(2, duration_ms=2000), turn(3, duration_ms=0)])
    assert [v.bar_pct for v in result] == [25.0, 100.0, views.MIN_BAR_PCT]


def test_a_resume_shows_the_answer_once() -> None:
    answer = '{"approved": true}'
    resumed = turn(2, "resumed", resumes=("a",))
    same = views.timeline([replace(resumed, input='{"approved":true}', resume_value=answer)])
    other = views.timeline([replace(resumed, input="and also this", resume_value=answer)])
    assert same[0].input_text is None and other[0].input_text == "and also this"
