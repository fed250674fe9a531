"""The plugin contract, run over every registered integration.

1. ``instrument()`` twice patches once and traces once (no duplicate spans).
2. ``uninstrument()`` restores every patched callable (by identity) and every
   hook list, and the workload then makes no spans.
3. A failure injected into telemetry leaves the user's result and the user's
   exception unchanged.

Each integration is exercised through its scenario in ``scenarios/contract.py``; one
whose entry point is not installed is skipped with the reason.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from scenarios.contract import SCENARIOS
from threadline import _runtime, handles, plugins
from threadline import semconv as sc

NAMES = sorted(set(SCENARIOS) | set(plugins.available()))
_MISSING = object()


@pytest.fixture(params=NAMES)
def scenario(request: pytest.FixtureRequest) -> Any:
    name = request.param
    registered = plugins.available()
    if name not in registered:
        pytest.skip(
            f"integration {name!r} is not installed: no {name!r} entry point in group "
            f"{plugins.ENTRY_POINT_GROUP!r} (pip install -e integrations/{name})"
        )
    scn = SCENARIOS.get(name)
    if scn is None:
        pytest.fail(f"integration {name!r} is registered but has no contract scenario in scenarios/contract.py")
    missing = scn.missing_modules()
    if missing:
        pytest.skip(f"integration {name!r}: framework modules not importable here: {missing}")
    for other in scn.instrument_names:
        if other not in registered:
            pytest.skip(f"integration {name!r} is exercised together with {other!r}, which is not installed")
        try:
            registered[other].load()
        except Exception as exc:
            pytest.fail(f"the {other!r} entry point is registered but does not load: {exc!r}")
    return scn


class _Pipeline:
    """A synchronous in-memory pipeline, instrumented for one scenario."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def instrument(self, scn: Any) -> threadline.Instrumentation:
        inst = threadline.instrument(tracer_provider=self.provider, integrations=scn.instrument_names)
        assert set(inst.integrations) == set(scn.instrument_names), f"not instrumented: {scn.instrument_names}"
        return inst

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def close(self) -> None:
        threadline.uninstrument()
        _runtime.shutdown(timeout=5)


@pytest.fixture
def pipeline() -> Iterator[_Pipeline]:
    p = _Pipeline()
    yield p
    p.close()


# --- snapshots of what an integration may change ------------------------------------------------


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# Dunder entries are mostly caches the framework fills lazily (pydantic schemas, ABC caches); only
# these are callables an integration could patch.
_PATCHABLE_DUNDERS = frozenset(
    {
        "__init__",
        "__new__",
        "__call__",
        "__enter__",
        "__exit__",
        "__aenter__",
        "__aexit__",
        "__iter__",
        "__next__",
        "__aiter__",
        "__anext__",
        "__getattr__",
        "__del__",
        "__init_subclass__",
    }
)


def _watched(name: str) -> bool:
    return not (name.startswith("__") and name.endswith("__")) or name in _PATCHABLE_DUNDERS


def _patchable(value: Any) -> bool:
    """Callables and descriptors; plain data (counters, caches) changes as the framework runs."""
    return callable(value) or hasattr(type(value), "__get__")


def _attributes(prefixes: tuple[str, ...]) -> dict[tuple[str, str], Any]:
    """Every module attribute and class attribute of the framework's loaded modules.

    Plain data, submodules bound on their package and lazily filled dunder caches are left out.
    """
    snap: dict[tuple[str, str], Any] = {}
    for modname, module in list(sys.modules.items()):
        if module is None or not _matches(modname, prefixes):
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if isinstance(value, types.ModuleType) or not _watched(attr) or not _patchable(value):
                continue
            snap[(modname, attr)] = value
            # type(value), not isinstance(): a lazy proxy's __class__ would import what it stands for.
            if issubclass(type(value), type) and vars(value).get("__module__") == modname:
                prefix = value.__qualname__ + "."
                for cattr, cvalue in list(vars(value).items()):
                    if _watched(cattr) and _patchable(cvalue):
                        snap[(modname, prefix + cattr)] = cvalue
    return snap


def _inherited(module: str, attr: str) -> Any:
    """For ``Class.attr`` of ``module``: what the class's bases hold under ``attr`` (or _MISSING)."""
    qualname, _, name = attr.rpartition(".")
    owner: Any = sys.modules.get(module)
    for part in qualname.split(".") if qualname else ():
        owner = vars(owner).get(part, _MISSING) if owner is not _MISSING else _MISSING
    if not isinstance(owner, type):
        return _MISSING
    for base in owner.__mro__[1:]:
        if name in vars(base):
            return vars(base)[name]
    return _MISSING


def _changed(before: dict[tuple[str, str], Any], after: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Entries whose object changed identity, appeared or vanished (modules present in both).

    An entry that appeared is a patch only if it is a wrapper, or a copy of what a base class
    holds (a shadow left by an unpatch); otherwise it is a name a module binds lazily.
    """
    modules = {m for m, _ in before} & {m for m, _ in after}
    out = {}
    for key, new in after.items():
        old = before.get(key, _MISSING)
        if old is new or key[0] not in modules:
            continue
        if old is _MISSING and not hasattr(new, "__wrapped__") and _inherited(*key) is not new:
            continue
        out[key] = new
    for key in before.keys() - after.keys():
        if key[0] in modules:
            out[key] = _MISSING
    return out


def _state(scn: Any) -> dict[str, Any]:
    state = dict(scn.state())
    state["threadline.context_providers"] = tuple(id(p) for p in handles._context_providers)
    return state


def _signature(spans: list[ReadableSpan]) -> Counter[tuple[Any, ...]]:
    by_id = {s.context.span_id: s for s in spans}
    out: Counter[tuple[Any, ...]] = Counter()
    for s in spans:
        parent = by_id.get(s.parent.span_id).name if s.parent is not None and s.parent.span_id in by_id else None
        out[(s.name, (s.attributes or {}).get(sc.SPAN_KIND), parent)] += 1
    return out


def _warm(scn: Any) -> Any:
    """Run the workload uninstrumented (twice, so lazy imports and caches settle); its normalised result."""
    first = scn.normalize(scn.run())
    second = scn.normalize(scn.run())
    assert first == second, "the scenario is not deterministic"
    return first


# --- 1. instrument twice = once ---------------------------------------------------------------------


def test_instrument_twice_patches_once_and_traces_once(scenario: Any, pipeline: _Pipeline) -> None:
    baseline = _warm(scenario)
    original = _attributes(scenario.modules)

    pipeline.instrument(scenario)
    once_result = scenario.run()
    once = _signature(pipeline.spans())
    assert once, f"{scenario.name}: the workload made no spans"
    assert scenario.normalize(once_result) == baseline
    pipeline.close()

    twice = _Pipeline()
    try:
        twice.instrument(scenario)
        after_first = _attributes(scenario.modules)
        state_first = _state(scenario)
        twice.instrument(scenario)
        after_second = _attributes(scenario.modules)
        assert _changed(after_first, after_second) == {}, "the second instrument() patched again"
        assert _state(scenario) == state_first, "the second instrument() added hooks again"

        for (module, attr), value in _changed(original, after_second).items():
            assert value is not _MISSING, f"{module}.{attr} was deleted by instrument()"
            inner = getattr(value, "__wrapped__", _MISSING)
            assert inner is not _MISSING, f"{module}.{attr} was replaced, not wrapped"
            assert (
                not isinstance(inner, wrapt.ObjectProxy)
                or (module, attr) not in original
                or (original[(module, attr)] is inner)
            ), f"{module}.{attr} is wrapped more than once"
            if (module, attr) in original:
                assert inner is original[(module, attr)], f"{module}.{attr} does not wrap the original"

        twice_result = scenario.run()
        assert _signature(twice.spans()) == once, "instrument() twice changed the spans (duplicates?)"
        assert scenario.normalize(twice_result) == baseline
    finally:
        twice.close()


# --- 2. uninstrument restores ----------------------------------------------------------------------


def test_uninstrument_restores_and_stops_tracing(scenario: Any, pipeline: _Pipeline) -> None:
    baseline = _warm(scenario)
    original = _attributes(scenario.modules)
    original_state = _state(scenario)

    for _ in range(2):  # and instrument / uninstrument can be repeated
        pipeline.exporter.clear()
        pipeline.instrument(scenario)
        scenario.run()
        assert pipeline.spans(), f"{scenario.name}: the workload made no spans"

        threadline.uninstrument()
        leftovers = _changed(original, _attributes(scenario.modules))
        assert leftovers == {}, f"not restored after uninstrument(): {sorted(leftovers)}"
        assert _state(scenario) == original_state, "hooks left installed after uninstrument()"

        pipeline.exporter.clear()
        result = scenario.run()
        assert pipeline.spans() == [], f"spans after uninstrument(): {[s.name for s in pipeline.spans()]}"
        assert scenario.normalize(result) == baseline


# --- 3. telemetry failures never reach the user ----------------------------------------------------------


def _raiser(calls: list[str], where: str) -> Any:
    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(where)
        raise RuntimeError(f"injected telemetry failure in {where}")

    return broken


def _inject(target: str, monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    from threadline.content import ContentPolicy
    from threadline.cost import Prices
    from threadline.emitter import Emitter
    from threadline.usage import Usage

    if target.startswith("Emitter."):
        method = target.split(".", 1)[1]
        monkeypatch.setattr(Emitter, method, _raiser(calls, target))
    elif target == "usage":
        monkeypatch.setattr(Usage, "__init__", _raiser(calls, target))
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith("threadline"):
                continue
            for attr in list(vars(module)):
                if attr.startswith("usage_from_"):
                    monkeypatch.setattr(module, attr, _raiser(calls, target))
    elif target == "cost":
        monkeypatch.setattr(Prices, "cost", _raiser(calls, target))
    elif target == "content":
        monkeypatch.setattr(ContentPolicy, "text", _raiser(calls, target))
    else:  # pragma: no cover
        raise AssertionError(target)


# These are reached by every scenario; usage, cost and first_token only where the workload reports them.
_ALWAYS_REACHED = {"Emitter.start", "Emitter.end", "content"}


@pytest.mark.parametrize("target", ["Emitter.start", "Emitter.end", "Emitter.first_token", "usage", "cost", "content"])
def test_a_telemetry_failure_leaves_results_and_exceptions_unchanged(
    target: str, scenario: Any, pipeline: _Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = _warm(scenario)
    framework_error = None
    if scenario.framework_error is not None:
        with pytest.raises(Exception) as caught:
            scenario.framework_error()
        framework_error = caught.value

    monkeypatch.setenv("THREADLINE_RAISE_INTERNAL", "0")
    pipeline.instrument(scenario)
    calls: list[str] = []
    _inject(target, monkeypatch, calls)

    assert scenario.normalize(scenario.run()) == baseline

    err = scenario.make_error()
    with pytest.raises(BaseException) as excinfo:
        scenario.failing(err)
    assert excinfo.value is err, f"the user's exception was replaced by {excinfo.value!r}"

    if framework_error is not None:
        with pytest.raises(Exception) as again:
            scenario.framework_error()
        assert type(again.value) is type(framework_error)
        assert str(again.value) == str(framework_error)

    if target in _ALWAYS_REACHED:
        assert calls, f"the injected failure in {target} was never reached: the test proves nothing"


def test_the_user_exception_passes_unchanged_when_telemetry_works(scenario: Any, pipeline: _Pipeline) -> None:
    pipeline.instrument(scenario)
    err = scenario.make_error()
    with pytest.raises(BaseException) as excinfo:
        scenario.failing(err)
    assert excinfo.value is err
    assert pipeline.spans(), f"{scenario.name}: the failing workload made no spans"


# --- all integrations at once ---------------------------------------------------------------------------


def _runnable_scenarios() -> list[Any]:
    registered = plugins.available()
    out = []
    for name, scn in sorted(SCENARIOS.items()):
        if name in registered and not scn.missing_modules():
            try:
                registered[name].load()
            except Exception:  # reported by the per-integration tests
                continue
            out.append(scn)
    return out


def test_all_integrations_together_trace_once_and_restore_everything(pipeline: _Pipeline) -> None:
    runnable = _runnable_scenarios()
    if not runnable:
        pytest.skip("no integration is installed")
    prefixes = tuple(p for scn in runnable for p in scn.modules)
    baselines = {scn.name: _warm(scn) for scn in runnable}
    original = _attributes(prefixes)
    original_state = {scn.name: _state(scn) for scn in runnable}

    alone: dict[str, Counter[tuple[Any, ...]]] = {}
    for scn in runnable:
        pipeline.instrument(scn)
        scn.run()
        alone[scn.name] = _signature(pipeline.spans())
        threadline.uninstrument()
        pipeline.exporter.clear()

    names = [scn.name for scn in runnable]
    inst = threadline.instrument(tracer_provider=pipeline.provider, integrations=names)
    threadline.instrument(tracer_provider=pipeline.provider, integrations=names)
    assert sorted(inst.integrations) == sorted(names)
    for scn in runnable:
        pipeline.exporter.clear()
        assert scn.normalize(scn.run()) == baselines[scn.name]
        together = _signature(pipeline.spans())
        # Another integration may add spans of its own (LangGraph runs through LangChain), never duplicates.
        assert all(together[key] == count for key, count in alone[scn.name].items()), (
            f"{scn.name}: spans differ when every integration is on: {together} vs {alone[scn.name]}"
        )

    threadline.uninstrument()
    leftovers = _changed(original, _attributes(prefixes))
    assert leftovers == {}, f"not restored after uninstrument(): {sorted(leftovers)}"
    assert {scn.name: _state(scn) for scn in runnable} == original_state
    pipeline.exporter.clear()
    for scn in runnable:
        scn.run()
    assert pipeline.spans() == []
