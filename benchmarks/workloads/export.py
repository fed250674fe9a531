"""Export throughput of the SQLite store, in spans per second, for batches of 512.

Three writers, interleaved round by round, each into its own fresh store made
by ``open_store`` (same schema, indexes, WAL and ``synchronous=NORMAL``):

- ``SQLiteSpanExporter.export(batch)``: the whole job (encode every span to a
  row, then write the batch in one transaction);
- the limit: a raw ``executemany`` of the *same rows*, encoded beforehand
  (outside the timing), all columns, in one transaction;
- a stricter limit: the same pre-encoded rows with their NULL columns left
  out (the exporter's own write shape), in one transaction.

Every batch is new spans (fresh trace and span ids), built from a template
made by threadline's emitter, so they carry exactly the attributes a LangGraph
turn produces. Target: >= 50,000 spans/s and >= 70 % of the raw executemany.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import spans
from benchmarks.harness import Config, Row
from benchmarks.pipelines import require

TARGET_SPANS_PER_S = 50_000
TARGET_PCT = 70.0


def _raw_writer(conn: Any, columns: Any) -> Any:
    sql = f"INSERT OR IGNORE INTO spans ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"

    def write(rows: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")

    return write


def _grouped_writer(conn: Any, insert_for: Any) -> Any:
    def write(groups: dict[tuple[bool, ...], list[tuple[Any, ...]]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for shape, values in groups.items():
            conn.executemany(insert_for(shape), values)
        conn.execute("COMMIT")

    return write


def _spin(seconds: float, stop: threading.Event | None = None) -> float:
    """A CPU-bound application thread: pure-Python work for ``seconds``; returns work units per second."""
    units, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds and not (stop is not None and stop.is_set()):
        x = 0
        for k in range(200):
            x += k
        units += 1
    return units / (time.perf_counter() - t0)


def contended(write: Callable[[Any], Any], payloads: list[Any], size: int, seconds: float) -> tuple[float, float]:
    """Spans/s that ``write`` achieves in a background thread while this thread is CPU-bound.

    This is the batch processor's situation in a busy application: every time
    the writer releases the GIL (sqlite3 does, around each statement step) it
    must win it back from the application thread. Also returns the application
    thread's speed during the run, as a fraction of its speed alone.
    """
    solo = _spin(min(seconds, 1.0))
    done = threading.Event()
    written = [0]
    elapsed = [0.0]

    def writer() -> None:
        t0 = time.perf_counter()
        for payload in payloads:
            write(payload)
            written[0] += size
            if time.perf_counter() - t0 >= seconds:
                break
        elapsed[0] = time.perf_counter() - t0
        done.set()

    thread = threading.Thread(target=writer, name="bench-export-writer", daemon=True)
    thread.start()
    busy = _spin(seconds * 10, stop=done)
    thread.join()
    return written[0] / elapsed[0], busy / solo


def run(cfg: Config) -> list[Row]:
    """Exporter vs raw executemany, ``cfg.export_batches`` batches each, over ``cfg.rounds`` rounds."""
    require("threadline.exporters.sqlite", "threadline.store.schema")
    from threadline.exporters import sqlite as sqlite_exporter
    from threadline.store.schema import SPAN_COLUMNS, open_store

    size = cfg.export_batch_size
    template = spans.template(size)
    rng = random.Random(20_251_121)
    work = Path(cfg.workdir)
    exporter = sqlite_exporter.SQLiteSpanExporter(work / "export-exporter.db")
    raw_conn = open_store(work / "export-raw.db", create=True)
    grouped_conn = open_store(work / "export-grouped.db", create=True)
    raw = _raw_writer(raw_conn, SPAN_COLUMNS)
    grouped = _grouped_writer(grouped_conn, sqlite_exporter._insert_for)
    group_by_shape = getattr(sqlite_exporter, "group_by_shape", None)

    def encode(batch: list[Any]) -> list[tuple[Any, ...]]:
        return [sqlite_exporter.span_row(s) for s in batch]

    # Warm-up: first statements, page cache, the exporter's insert-statement cache.
    for _ in range(2):
        exporter.export(spans.fresh_batch(template, rng))
        raw(encode(spans.fresh_batch(template, rng)))
        if group_by_shape is not None:
            grouped(group_by_shape(encode(spans.fresh_batch(template, rng))))

    rounds = max(1, min(cfg.rounds, cfg.export_batches))
    per_round = max(1, cfg.export_batches // rounds)
    cfg.log(f"  export: {rounds} rounds x {per_round} batches of {size} spans per writer")
    rates: dict[str, list[float]] = {"exporter": [], "raw": [], "grouped": [], "encode": []}
    for r in range(rounds):
        order = ["exporter", "raw", "grouped"] if r % 2 == 0 else ["grouped", "raw", "exporter"]
        for who in order:
            if who == "grouped" and group_by_shape is None:
                continue
            batches = [spans.fresh_batch(template, rng) for _ in range(per_round)]
            spent = 0.0
            if who == "exporter":
                for batch in batches:
                    t0 = time.perf_counter()
                    result = exporter.export(batch)
                    spent += time.perf_counter() - t0
                    if result.name != "SUCCESS":
                        raise RuntimeError(f"SQLiteSpanExporter.export returned {result}")
            else:
                t0 = time.perf_counter()
                encoded = [encode(b) for b in batches]
                if who == "raw":
                    rates["encode"].append(per_round * size / (time.perf_counter() - t0))
                payloads: list[Any] = encoded if who == "raw" else [group_by_shape(rows) for rows in encoded]
                write = raw if who == "raw" else grouped
                for payload in payloads:
                    t0 = time.perf_counter()
                    write(payload)
                    spent += time.perf_counter() - t0
            rates[who].append(per_round * size / spent)

    # Background writer, busy application thread (the batch processor's real situation).
    seconds = max(0.2, min(3.0, cfg.block_seconds * 5))
    pool = max(2, min(60, cfg.export_batches // 3))
    busy_exp_rate, app_speed_exp = contended(
        exporter.export, [spans.fresh_batch(template, rng) for _ in range(pool)], size, seconds
    )
    busy_raw_rate, app_speed_raw = contended(
        raw, [encode(spans.fresh_batch(template, rng)) for _ in range(pool)], size, seconds
    )
    exporter.shutdown()
    raw_conn.close()
    grouped_conn.close()

    def median(name: str) -> float | None:
        return statistics.median(rates[name]) if rates[name] else None

    exp_rate, raw_rate, grouped_rate, enc_rate = median("exporter"), median("raw"), median("grouped"), median("encode")
    assert exp_rate is not None and raw_rate is not None
    pct = exp_rate / raw_rate * 100
    common = {"batch_size": size, "rounds": rounds, "batches_per_round": per_round}

    def row(variant: str, rate: float | None, **extra: Any) -> Row:
        metrics: dict[str, Any] = {
            "spans_per_s": round(rate, 0) if rate else None,
            "us_per_span": round(1e6 / rate, 2) if rate else None,
            **common,
            **extra,
        }
        return Row(f"export (SQLite store, batches of {size})", variant, "throughput", metrics)

    main = row(
        "SQLiteSpanExporter.export (encode + write)",
        exp_rate,
        vs_limit_pct=round(pct, 1),
        vs_grouped_pct=round(exp_rate / grouped_rate * 100, 1) if grouped_rate else None,
        spans_per_s_min=round(min(rates["exporter"]), 0),
        spans_per_s_max=round(max(rates["exporter"]), 0),
    )
    if cfg.mode != "quick":
        main.target = f">= {TARGET_SPANS_PER_S:,} spans/s and >= {TARGET_PCT:g} % of raw"
        main.met = exp_rate >= TARGET_SPANS_PER_S and pct >= TARGET_PCT
    if grouped_rate:
        main.note = f"{exp_rate / grouped_rate * 100:.0f} % of the NULL-free raw write"
    rows = [
        main,
        row("limit: raw executemany, same rows pre-encoded (all columns)", raw_rate, vs_limit_pct=100.0),
    ]
    if grouped_rate:
        rows.append(
            row(
                "raw executemany, same rows pre-encoded, NULL columns left out",
                grouped_rate,
                vs_limit_pct=round(grouped_rate / raw_rate * 100, 1),
            )
        )
    rows.append(row("span_row() encoding alone (no write)", enc_rate))
    rows[-1].note = "for the breakdown: encode cost per span"
    busy = row(
        "SQLiteSpanExporter.export in a background thread, application thread CPU-bound",
        busy_exp_rate,
        vs_limit_pct=round(busy_exp_rate / busy_raw_rate * 100, 1),
        app_thread_speed_pct=round(app_speed_exp * 100, 1),
        seconds=seconds,
    )
    busy.note = f"application thread ran at {app_speed_exp * 100:.0f} % of its solo speed meanwhile"
    rows.append(busy)
    busy_raw = row(
        "raw executemany (pre-encoded) in a background thread, application thread CPU-bound",
        busy_raw_rate,
        vs_limit_pct=100.0,
        app_thread_speed_pct=round(app_speed_raw * 100, 1),
        seconds=seconds,
    )
    busy_raw.note = f"application thread ran at {app_speed_raw * 100:.0f} % of its solo speed meanwhile"
    rows.append(busy_raw)
    return rows
