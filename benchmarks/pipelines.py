"""threadline set-ups the workloads compare: the default SQLite store, and in-memory.

Each is a :class:`~benchmarks.harness.Variant` whose setup calls
``threadline.instrument()`` and whose teardown calls ``threadline.shutdown()``,
so uninstrumented blocks in between run the frameworks unpatched.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from benchmarks.harness import Call, Config, Row, SkipError, Variant, compare, profile


def importable(*modules: str) -> str | None:
    """``None`` when every module imports, else why not (for a skip note)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            return f"`{name}` is not importable ({type(exc).__name__}: {exc})"[:200]
    return None


def use_store(workdir: str, name: str) -> Path:
    """Point threadline's default SQLite store (``$THREADLINE_DB``) at a fresh file in ``workdir``."""
    path = Path(workdir) / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    os.environ["THREADLINE_DB"] = str(path)
    return path


def threadline_default(workdir: str, store: str, **opts: Any) -> Variant:
    """``threadline.instrument(**opts)`` with the default exporter: the SQLite store, batched."""
    import threadline

    require("threadline.exporters.sqlite")

    path = Path(workdir) / f"{store}.db"

    def setup() -> None:
        use_store(workdir, store)
        threadline.instrument(**opts)

    def teardown() -> None:
        threadline.shutdown()

    label = "threadline (default: SQLite store)"
    if opts:
        label = f"threadline (SQLite store, {', '.join(f'{k}={v!r}' for k, v in opts.items())})"
    return Variant(
        label,
        setup=setup,
        teardown=teardown,
        finish=threadline.flush,
        count_spans=lambda: stored_spans(path),
    )


def stored_spans(path: Path) -> int | None:
    """Rows in the store's ``spans`` table (``None`` when there is no such store)."""
    import sqlite3

    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return None


def threadline_in_memory(**opts: Any) -> Variant:
    """threadline with an in-memory exporter behind a batch processor (like the peers)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import threadline

    box: list[Any] = [InMemorySpanExporter()]

    def setup() -> None:
        # shutdown() stops an exporter for good, so every block gets a new one.
        box[0] = InMemorySpanExporter()
        threadline.instrument(exporter=box[0], **opts)

    def teardown() -> None:
        threadline.shutdown()

    return Variant(
        "threadline (in-memory exporter)",
        setup=setup,
        teardown=teardown,
        finish=threadline.flush,
        count_spans=lambda: len(box[0].get_finished_spans()),
    )


def require(*modules: str) -> None:
    """Raise :class:`SkipError` unless every module imports."""
    why = importable(*modules)
    if why is not None:
        raise SkipError(why)


def default_and_in_memory(cfg: Config, workload: str, store: str, call: Call, unit: str = "call") -> list[Row]:
    """``call`` uninstrumented vs threadline (SQLite store ``store``, and in-memory); profiled as ``store``."""
    rows = compare(workload, call, [threadline_default(cfg.workdir, store), threadline_in_memory()], cfg, unit=unit)
    profile(cfg, store, call, threadline_default(cfg.workdir, f"{store}-profile"))
    return rows
