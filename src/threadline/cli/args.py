"""What every ``threadline`` command reads from its arguments: the store, a time window, row counts.

The option builders (:func:`add_db`, :func:`add_window`) and argparse types
(:func:`label`, :func:`count`) are shared by every subcommand; a value they
cannot take becomes a :class:`CliError`, printed on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from threadline import inputs
from threadline.store.schema import resolve_path

__all__ = [
    "CliError",
    "add_db",
    "add_window",
    "count",
    "join_negative_times",
    "label",
    "store_path",
    "time_arg",
    "window",
]


class CliError(Exception):
    """A user-facing failure: printed on stderr, exit status 1."""


def store_path(args: argparse.Namespace) -> Path:
    """The store a command reads: ``--db``, else ``$THREADLINE_DB``, else ``.threadline/traces.db``."""
    return resolve_path(args.db)


def time_arg(value: str | None, flag: str) -> datetime | None:
    """``--since`` / ``--until`` read by :func:`threadline.inputs.time`; ``None`` when not given."""
    if value is None:
        return None
    try:
        return inputs.time(value, flag)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def label(text: str) -> str | None:
    """The argparse ``type`` of ``--environment`` / ``--tag``: :func:`threadline.inputs.label`."""
    try:
        return inputs.label(text, "")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(text: str) -> int:
    """The argparse ``type`` of row counts (``--limit``, ``--offset``): :func:`threadline.inputs.count`."""
    try:
        return inputs.count(text, "", default=0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_db(parser: argparse.ArgumentParser) -> None:
    """Add ``--db PATH``."""
    parser.add_argument(
        "--db", metavar="PATH", default=None, help="the store (default: $THREADLINE_DB, else .threadline/traces.db)"
    )


def add_window(parser: argparse.ArgumentParser) -> None:
    """Add the listing options: ``--user``, ``--since``, ``--until``, ``--limit``, ``--offset``, ``--json``."""
    parser.add_argument("--user", metavar="U", help="only where this user id appears")
    parser.add_argument("--since", metavar="TIME", help="ISO time (local unless zoned) or relative: -1h, 30m, 2d")
    parser.add_argument("--until", metavar="TIME", help="ISO time or relative, as --since")
    parser.add_argument("--limit", type=count, default=50, metavar="N", help="at most N rows (default 50)")
    parser.add_argument("--offset", type=count, default=0, metavar="N", help="skip the first N rows")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def window(args: argparse.Namespace) -> dict[str, Any]:
    """The options :func:`add_window` added, as a listing's keywords (``user``, ``since`` ... ``offset``)."""
    return {
        "user": args.user,
        "since": time_arg(args.since, "--since"),
        "until": time_arg(args.until, "--until"),
        "limit": args.limit,
        "offset": args.offset,
    }


def join_negative_times(argv: Sequence[str]) -> list[str]:
    """``--since -1h`` -> ``--since=-1h`` (argparse would take ``-1h`` for an option)."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item in ("--since", "--until") and i + 1 < len(items) and items[i + 1].startswith("-"):
            out.append(f"{item}={items[i + 1]}")
            i += 2
            continue
        out.append(item)
        i += 1
    return out
