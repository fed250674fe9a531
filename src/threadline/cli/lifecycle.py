"""The ``threadline`` commands that change the store: ``prune``, ``delete``, ``export``, ``import``.

Registered on the CLI's parser by :func:`add_commands`; each prints one line
saying what it did.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from threadline.cli.args import CliError, add_db, store_path
from threadline.safe_text import clean
from threadline.store import lifecycle, queries

__all__ = ["add_commands"]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _say(deleted: lifecycle.Deleted, path: Path) -> None:
    print(
        f"Deleted {_plural(deleted.sessions, 'session')}, {_plural(deleted.traces, 'trace')} and "
        f"{_plural(deleted.spans, 'span')} from {path}."
    )


def cmd_prune(args: argparse.Namespace) -> int:
    """``threadline prune --older-than 30d`` / ``--keep-sessions N``."""
    if args.older_than is None and args.keep_sessions is None:
        raise CliError("say what to prune: --older-than DURATION (e.g. 30d) and/or --keep-sessions N")
    try:
        deleted = lifecycle.prune(store_path(args), older_than=args.older_than, keep_sessions=args.keep_sessions)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _say(deleted, store_path(args))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """``threadline delete session ID`` / ``threadline delete trace ID``."""
    path = store_path(args)
    if args.what == "session":
        deleted = lifecycle.delete_session(path, args.id)
    else:
        try:
            full = queries.resolve_trace_id(path, args.id)
        except queries.AmbiguousIdError as exc:
            raise CliError(str(exc)) from None
        deleted = lifecycle.delete_trace(path, full) if full is not None else lifecycle.Deleted(0, 0, 0)
    if not deleted.traces:
        raise CliError(f"no {args.what} {args.id!r} in {path}")
    _say(deleted, path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``threadline export session ID [-o FILE]``: the session's spans and scores as JSON lines."""
    path = store_path(args)
    if args.output in (None, "-"):
        written = lifecycle.export_session(path, args.id, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            written = lifecycle.export_session(path, args.id, out)
    if not written.spans:
        raise CliError(f"no session {args.id!r} in {path}")
    if args.output not in (None, "-"):
        scores = f" and {_plural(written.scores, 'score')}" if written.scores else ""
        print(f"Wrote {_plural(written.spans, 'span')}{scores} of session {args.id} to {args.output}.")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``threadline import FILE ...``: spans and scores written by ``threadline export`` back into the store."""
    from threadline.exporters.archive import import_lines  # the only command that builds spans

    path = store_path(args)
    total, added, scores, skipped = 0, 0, 0, 0
    for name in args.files:
        shown = clean(name)  # a file name is text from outside: no terminal controls
        try:
            if name == "-":
                result = import_lines(path, sys.stdin.buffer)
            else:
                with open(name, "rb") as lines:
                    result = import_lines(path, lines)
        except OSError as exc:
            raise CliError(f"could not import {shown}: {clean(str(exc))}") from None
        for reason in result.reasons:
            print(f"threadline: {shown}: skipped {clean(reason)}", file=sys.stderr)
        if result.skipped > len(result.reasons):
            more = _plural(result.skipped - len(result.reasons), "more line")
            print(f"threadline: {shown}: skipped {more}", file=sys.stderr)
        total, added, skipped = total + result.spans, added + result.added, skipped + result.skipped
        scores += result.scores
    print(
        f"Imported {_plural(added, 'span')}"
        + (f" and {_plural(scores, 'score')}" if scores else "")
        + f" into {path}"
        + (f" ({total - added:,} already there, kept as they were)" if total > added else "")
        + (f"; {_plural(skipped, 'line')} skipped (not exported spans or scores)." if skipped else ".")
    )
    return 0 if total or scores or not skipped else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the lifecycle commands to the CLI's subparsers."""
    p = sub.add_parser("prune", help="delete old sessions and their traces (and give the space back)")
    add_db(p)
    p.add_argument("--older-than", metavar="DURATION", help="sessions last active longer ago than this: 30d, 12h, 2w")
    p.add_argument("--keep-sessions", type=int, metavar="N", help="keep only the N most recently active sessions")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("delete", help="delete one session or trace (export it first to keep a copy)")
    p.add_argument("what", choices=("session", "trace"))
    p.add_argument("id", metavar="ID")
    add_db(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("export", help="a session's spans and scores as JSON lines, captured content included")
    p.add_argument("what", choices=("session",))
    p.add_argument("id", metavar="ID")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: standard output)")
    add_db(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="spans written by `threadline export` back into the store")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON lines from `threadline export session` (- for stdin)")
    add_db(p)
    p.set_defaults(func=cmd_import)
