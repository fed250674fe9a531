"""Plugin discovery, selection, isolation, deferred patching and running with no framework at all."""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import textwrap
import types
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import pytest
import wrapt
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import _runtime, plugins
from threadline.integration import Integration
from threadline.patching import PatchSet
from threadline.testing import capture

FAKE_MODULE = "threadline_fake_plugins"


class _Recorder(Integration):
    """A fake integration that records what was asked of it."""

    name: ClassVar[str] = "good"
    calls: ClassVar[list[str]] = []

    def _instrument(self, **options: Any) -> None:
        type(self).calls.append(f"instrument {self.name}")

    def _uninstrument(self) -> None:
        type(self).calls.append(f"uninstrument {self.name}")


class _Good(_Recorder):
    name: ClassVar[str] = "good"


class _Other(_Recorder):
    name: ClassVar[str] = "other"


class _RaisesOnInit(Integration):
    name: ClassVar[str] = "broken-init"

    def __init__(self) -> None:
        raise RuntimeError("plugin constructor bug")


class _RaisesOnInstrument(_Recorder):
    name: ClassVar[str] = "broken-instrument"

    def _instrument(self, **options: Any) -> None:
        raise RuntimeError("plugin instrument bug")


class _NeedsMissingFramework(_Recorder):
    name: ClassVar[str] = "missing"
    requires: ClassVar[str] = "surely-not-installed-framework>=1.0"


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> dict[str, metadata.EntryPoint]:
    module = types.ModuleType(FAKE_MODULE)
    for cls in (_Good, _Other, _RaisesOnInit, _RaisesOnInstrument, _NeedsMissingFramework):
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    group = plugins.ENTRY_POINT_GROUP
    eps = {
        "good": metadata.EntryPoint("good", f"{FAKE_MODULE}:_Good", group),
        "broken-import": metadata.EntryPoint("broken-import", "threadline_no_such_module_xyz:Nope", group),
        "broken-init": metadata.EntryPoint("broken-init", f"{FAKE_MODULE}:_RaisesOnInit", group),
        "broken-instrument": metadata.EntryPoint("broken-instrument", f"{FAKE_MODULE}:_RaisesOnInstrument", group),
        "missing": metadata.EntryPoint("missing", f"{FAKE_MODULE}:_NeedsMissingFramework", group),
        "other": metadata.EntryPoint("other", f"{FAKE_MODULE}:_Other", group),
    }
    monkeypatch.setattr(plugins, "available", lambda: dict(eps))
    _Recorder.calls.clear()
    return eps


# --- discovery and selection -----------------------------------------------------------------


def test_entry_points_are_discovered_from_installed_distributions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tlplug_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from threadline.integration import Integration

            class PluginIntegration(Integration):
                name = "{name}"
                requires = "opentelemetry-sdk>=1.0"
                instrumented = 0

                def _instrument(self, **options):
                    type(self).instrumented += 1

                def _uninstrument(self):
                    type(self).instrumented -= 1
            """
        )
    )
    dist = tmp_path / f"{name}-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{name} = {name}:PluginIntegration\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    found = plugins.available()
    assert found[name].value == f"{name}:PluginIntegration"
    with capture(integrations=[name]):
        cls = importlib.import_module(name).PluginIntegration
        assert cls.instrumented == 1
    assert cls.instrumented == 0
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_the_installed_integrations_are_registered() -> None:
    found = plugins.available()
    for pyproject in (Path(__file__).parents[2] / "integrations").glob("*/pyproject.toml"):
        name = pyproject.parent.name
        if importlib.util.find_spec(f"threadline_{name}") is None:
            continue  # present in the tree but not installed in this environment
        assert name in found, f"threadline_{name} is installed but registers no {plugins.ENTRY_POINT_GROUP} entry"


def test_an_unknown_name_is_a_clear_error_naming_the_installed_ones(fake_plugins: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown threadline integration\(s\) \['nope'\]") as excinfo:
        threadline.instrument(integrations=["good", "nope"], exporter=InMemorySpanExporter())
    message = str(excinfo.value)
    for name in fake_plugins:
        assert name in message
    assert isinstance(excinfo.value, plugins.UnknownIntegrationError)
    assert _Recorder.calls == []  # nothing half-instrumented


def test_integrations_selects(fake_plugins: Any) -> None:
    inst = threadline.instrument(integrations=["other"], exporter=InMemorySpanExporter())
    assert inst.integrations == ("other",)
    assert _Recorder.calls == ["instrument other"]


def test_a_broken_plugin_is_logged_and_skipped(fake_plugins: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        inst = threadline.instrument(exporter=InMemorySpanExporter())
    assert sorted(inst.integrations) == ["good", "other"]
    assert sorted(_Recorder.calls) == ["instrument good", "instrument other"]
    text = caplog.text
    assert "could not load integration 'broken-import'" in text
    assert "could not load integration 'broken-init'" in text
    assert "could not instrument broken-instrument" in text
    assert "surely-not-installed-framework" not in text  # an absent framework is skipped silently
    threadline.uninstrument()
    assert sorted(_Recorder.calls[2:]) == ["uninstrument good", "uninstrument other"]


def test_a_named_plugin_whose_framework_is_missing_says_so(fake_plugins: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        inst = threadline.instrument(integrations=["missing", "good"], exporter=InMemorySpanExporter())
    assert inst.integrations == ("good",)
    assert "surely-not-installed-framework>=1.0" in caplog.text


def test_instrument_twice_instruments_each_plugin_once(fake_plugins: Any) -> None:
    threadline.instrument(integrations=["good"], exporter=InMemorySpanExporter())
    threadline.instrument(integrations=["good"], exporter=InMemorySpanExporter())
    assert _Recorder.calls == ["instrument good"]
    assert _runtime.state.integrations["good"].emitter is _runtime.state.emitter  # the new settings apply
    threadline.uninstrument()
    threadline.uninstrument()
    assert _Recorder.calls == ["instrument good", "uninstrument good"]


def test_framework_installed_reads_the_requirement() -> None:
    assert plugins.framework_installed("")
    assert plugins.framework_installed("opentelemetry-sdk>=1.0")
    assert plugins.framework_installed("wrapt")
    assert not plugins.framework_installed("surely-not-installed-framework>=1.0")


# --- deferred patching -------------------------------------------------------------------------


def _write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"tl_deferred_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            class Greeter:
                def greet(self, who):
                    return f"hello {who}"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_patching_waits_for_the_first_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _write_module(tmp_path, monkeypatch)
    seen: list[tuple[Any, ...]] = []

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(args)
        return wrapped(*args, **kwargs).upper()

    patches = PatchSet()
    patch = patches.add(name, "Greeter.greet", wrapper)
    assert name not in sys.modules and not patch.applied

    module = importlib.import_module(name)
    try:
        original = module.Greeter.__dict__["greet"].__wrapped__
        assert patch.applied
        assert isinstance(module.Greeter.__dict__["greet"], wrapt.FunctionWrapper)
        assert module.Greeter().greet("ada") == "HELLO ADA"
        assert seen == [("ada",)]

        patches.remove()
        assert module.Greeter.__dict__["greet"] is original
        assert module.Greeter().greet("ada") == "hello ada"
    finally:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_pending_patch_removed_before_import_never_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _write_module(tmp_path, monkeypatch)
    patches = PatchSet()
    patches.add(name, "Greeter.greet", lambda wrapped, instance, args, kwargs: "patched")
    patches.remove()
    module = importlib.import_module(name)
    try:
        assert not isinstance(module.Greeter.__dict__["greet"], wrapt.ObjectProxy)
        assert module.Greeter().greet("ada") == "hello ada"
    finally:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_removing_under_someone_elses_wrapper_becomes_a_pass_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _write_module(tmp_path, monkeypatch)
    module = importlib.import_module(name)
    try:
        patches = PatchSet()
        patches.add(name, "Greeter.greet", lambda wrapped, instance, args, kwargs: "ours")
        assert module.Greeter().greet("x") == "ours"

        def theirs(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return "theirs+" + wrapped(*args, **kwargs)

        wrapt.wrap_function_wrapper(module, "Greeter.greet", theirs)
        their_wrapper = module.Greeter.__dict__["greet"]
        assert module.Greeter().greet("x") == "theirs+ours"
        patches.remove()
        assert module.Greeter.__dict__["greet"] is their_wrapper  # theirs is kept
        assert module.Greeter().greet("x") == "theirs+hello x"  # ours passes through
    finally:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_patching_an_inherited_method_leaves_no_shadow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _write_module(tmp_path, monkeypatch)
    (tmp_path / f"{name}.py").write_text((tmp_path / f"{name}.py").read_text() + "\n\nclass Loud(Greeter):\n    pass\n")
    module = importlib.import_module(name)
    try:
        patches = PatchSet()
        patches.add(name, "Loud.greet", lambda wrapped, instance, args, kwargs: "ours")
        assert module.Loud().greet("x") == "ours"
        assert module.Greeter().greet("x") == "hello x"  # only the subclass is patched
        patches.remove()
        assert "greet" not in vars(module.Loud)
        module.Greeter.greet = lambda self, who: f"hi {who}"  # a later change to the base shows through
        assert module.Loud().greet("x") == "hi x"
    finally:
        monkeypatch.delitem(sys.modules, name, raising=False)


# --- no framework at all -----------------------------------------------------------------------

_BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("langchain", "langchain_core", "langgraph", "llama_index", "llama_index_instrumentation", "openai")


class _Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""

_SCRIPT = """
import importlib
import json
import sys

import threadline

for framework in ("langchain_core", "langgraph", "llama_index.core", "llama_index_instrumentation", "openai"):
    try:
        importlib.import_module(framework)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{framework} should not be importable here")

MODE = sys.argv[1]
if MODE == "default":
    inst = threadline.instrument()
else:
    from threadline.exporters import JSONLSpanExporter

    inst = threadline.instrument(exporter=JSONLSpanExporter(sys.argv[2]))


@threadline.observe("lookup")
def lookup(q):
    return {"q": q}


@threadline.observe("handle-turn")
def handle_turn(q):
    return lookup(q)


with threadline.session("chat-no-framework", user_id="u-1"):
    assert handle_turn("hi") == {"q": "hi"}
assert threadline.flush(10)
frameworks = sorted(m for m in sys.modules if m.partition(".")[0] in (
    "langchain", "langchain_core", "langgraph", "llama_index", "llama_index_instrumentation", "openai"))
print(json.dumps({"integrations": list(inst.integrations), "frameworks": frameworks}))
threadline.shutdown()
"""


def _run_without_frameworks(tmp_path: Path, *args: str) -> dict[str, Any]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER)
    script = tmp_path / "app.py"
    script.write_text(_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(site)
    env["THREADLINE_DB"] = str(tmp_path / "store" / "traces.db")
    env["THREADLINE_RAISE_INTERNAL"] = "1"  # any internal failure must show as a crash
    proc = subprocess.run(
        [sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "could not" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["frameworks"] == []
    return report


def test_instrument_with_no_framework_importable_traces_observe_spans(tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    _run_without_frameworks(tmp_path, "jsonl", str(out))
    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"handle-turn", "lookup"}
    assert rows["lookup"]["parent_span_id"] == rows["handle-turn"]["span_id"]
    for row in rows.values():
        assert row["attributes"]["session.id"] == "chat-no-framework"
        assert row["attributes"]["threadline.span.kind"] == "observe"


@pytest.mark.skipif(
    importlib.util.find_spec("threadline.exporters.sqlite") is None, reason="the SQLite store is not written yet"
)
def test_bare_instrument_with_no_framework_exits_cleanly_into_the_store(tmp_path: Path) -> None:
    import sqlite3

    _run_without_frameworks(tmp_path, "default")
    db = tmp_path / "store" / "traces.db"
    assert db.exists()
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dump = " ".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))
    finally:
        conn.close()
    assert "handle-turn" in dump and "lookup" in dump and "chat-no-framework" in dump
