"""The run map: entries leave on end, error and abandonment; late runs of an abandoned trace are dropped;
the map stays bounded. Driven through the handler's callbacks, as LangChain calls them."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.kit import attrs
from threadline import semconv as sc
from threadline.testing import capture
from threadline_langchain import ThreadlineCallbackHandler
from threadline_langchain._registry import RunRegistry


def _chain_start(handler: ThreadlineCallbackHandler, name: str, parent: object = None) -> object:
    run_id = uuid4()
    handler.on_chain_start(None, {"in": name}, run_id=run_id, parent_run_id=parent, name=name)
    return run_id


@pytest.fixture
def handler() -> ThreadlineCallbackHandler:
    """A handler with a run map of its own."""
    return ThreadlineCallbackHandler(registry=RunRegistry())


def test_a_root_that_ends_closes_what_was_left_open_as_cancelled(handler: ThreadlineCallbackHandler) -> None:
    with capture(integrations=[]) as spans:
        root = _chain_start(handler, "root")
        child = _chain_start(handler, "child", root)
        grandchild = _chain_start(handler, "grandchild", child)
        handler.on_chain_end({"out": 1}, run_id=root)
        assert handler.open_runs == 0

        # The abandoned runs report late: their ends are ignored, their new children dropped.
        late = _chain_start(handler, "late", grandchild)
        handler.on_chain_end({}, run_id=late)
        handler.on_chain_end({}, run_id=grandchild)
        assert handler.open_runs == 0

    outcomes = {s.name: attrs(s)[sc.OUTCOME] for s in spans.finished()}
    assert outcomes == {"grandchild": "cancelled", "child": "cancelled", "root": "cancelled"}
    assert [s.name for s in spans.finished()] == ["grandchild", "child", "root"]  # children end first
    assert len(spans.traces()) == 1


def test_entries_leave_the_map_on_end_and_on_error(handler: ThreadlineCallbackHandler) -> None:
    with capture(integrations=[]) as spans:
        root = _chain_start(handler, "root")
        ok = _chain_start(handler, "ok", root)
        bad = _chain_start(handler, "bad", root)
        assert handler.open_runs == 3
        handler.on_chain_end({}, run_id=ok)
        handler.on_chain_error(ValueError("x"), run_id=bad)
        assert handler.open_runs == 1
        handler.on_chain_error(ValueError("x"), run_id=root)
        assert handler.open_runs == 0
    assert {s.name: attrs(s)[sc.OUTCOME] for s in spans.finished()} == {"ok": "ok", "bad": "error", "root": "error"}


def test_the_map_is_bounded_the_oldest_trace_is_abandoned() -> None:
    handler = ThreadlineCallbackHandler(registry=RunRegistry(max_open=4))
    with capture(integrations=[]) as spans:
        first = _chain_start(handler, "first")
        _chain_start(handler, "first-child", first)
        second = _chain_start(handler, "second")
        _chain_start(handler, "second-child", second)
        assert handler.open_runs == 4
        _chain_start(handler, "third")  # one too many: the oldest trace goes
        assert handler.open_runs == 3
    ended = {s.name: attrs(s)[sc.OUTCOME] for s in spans.finished()}
    assert ended == {"first-child": "cancelled", "first": "cancelled"}


def test_a_run_seen_by_two_threadline_handlers_is_traced_once() -> None:
    registry = RunRegistry()
    one, two = ThreadlineCallbackHandler(registry=registry), ThreadlineCallbackHandler(registry=registry)
    with capture(integrations=[]) as spans:
        run_id = uuid4()
        for handler in (one, two):
            handler.on_chain_start(None, {}, run_id=run_id, name="shared")
        for handler in (one, two):
            handler.on_chain_end({}, run_id=run_id)
    assert [s.name for s in spans.finished()] == ["shared"]
    assert len(registry) == 0
