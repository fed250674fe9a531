"""``threadline``: read the local store from the terminal.

::

    threadline sessions [--user U] [--since -1h] [--json]   # the sessions table
    threadline session ID [--json]                          # the conversation replay, turn by turn
    threadline trace ID [--json]                            # one trace's span tree
    threadline traces [--session ID] [--json]               # recent traces
    threadline annotate ID --score helpful=1 [--comment C]  # score a session or a trace
    threadline search "refund" [--session ID] [--json]      # traces whose captured text matches
    threadline stats [--since -7d] [--by day|hour|model]    # cost, tokens, errors, latency over time
    threadline demo                                         # run the LangGraph demo into the store
    threadline ui [--port N]                                # the local web view (needs threadline[ui])

Every command takes ``--db PATH`` (default ``$THREADLINE_DB``, else
``.threadline/traces.db``). A missing store or an unknown id prints a message
on stderr and exits with status 1. Output has no colour when it is not a
terminal; ``--json`` prints machine-readable JSON instead of tables.

This module wires the commands to the parser; each lives in a module of this
package: :mod:`.listing` (``sessions``, ``traces``), :mod:`.replay`
(``session``), :mod:`.trace`, :mod:`.scores` (``annotate``), :mod:`.find`
(``search``, ``stats``), :mod:`.lifecycle` (``prune``, ``delete``,
``export``, ``import``) and :mod:`.demo`. They share :mod:`.args` (the store, time
windows, row counts) and :mod:`.output` (the console, JSON, table cells);
numbers and times are :mod:`threadline.formatting`'s, as in the web view.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from threadline.cli import find, lifecycle
from threadline.cli.args import CliError, add_db, add_window, join_negative_times, label
from threadline.cli.demo import run_demo
from threadline.cli.listing import cmd_sessions, cmd_traces, sessions_table, traces_table
from threadline.cli.output import DEFAULT_WIDTH, Fields, make_console
from threadline.cli.replay import cmd_session, replay
from threadline.cli.scores import cmd_annotate
from threadline.cli.trace import cmd_trace, trace_tree
from threadline.formatting import fmt_cost, fmt_duration, fmt_time, fmt_tokens, readable
from threadline.store.schema import StoreError, StoreNotFoundError

__all__ = [
    "DEFAULT_WIDTH",
    "DEMO_INTEGRATIONS",
    "DEMO_MODULE",
    "CliError",
    "Fields",
    "build_parser",
    "fmt_cost",
    "fmt_duration",
    "fmt_time",
    "fmt_tokens",
    "main",
    "make_console",
    "readable",
    "replay",
    "sessions_table",
    "trace_tree",
    "traces_table",
]

DEMO_MODULE = "threadline_langgraph.demo"
DEMO_INTEGRATIONS: tuple[str, ...] = ("langchain", "langgraph")


def cmd_demo(args: argparse.Namespace) -> int:
    """``threadline demo``: run the LangGraph demo (:data:`DEMO_MODULE`) into the store, then show it."""
    return run_demo(args, DEMO_MODULE, DEMO_INTEGRATIONS)


def build_parser() -> argparse.ArgumentParser:
    """The ``threadline`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="threadline",
        description="Read threadline's local trace store: sessions, conversation replays, span trees.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sessions", help="the sessions table, most recent first")
    add_db(p)
    add_window(p)
    p.add_argument(
        "--order",
        default="-last_trace",
        metavar="FIELD",
        help="last_trace, first_trace, duration_ms, traces, errors, interrupted, input_tokens, output_tokens, "
        "cost_usd, ttft_median_ms or session_id; prefix '-' for descending (default -last_trace)",
    )
    p.add_argument(
        "--environment", metavar="ENV", type=label, help="only sessions in this environment (e.g. production)"
    )
    p.add_argument("--tag", metavar="TAG", type=label, help="only sessions with this tag")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("session", help="a session's conversation replay, turn by turn")
    p.add_argument("session_id", metavar="ID")
    add_db(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--full", action="store_true", help="show long inputs and outputs in full")
    p.set_defaults(func=cmd_session)

    p = sub.add_parser("trace", help="one trace's span tree (ID may be a unique prefix)")
    p.add_argument("trace_id", metavar="ID")
    add_db(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("traces", help="recent traces, with or without a session")
    add_db(p)
    p.add_argument("--session", metavar="ID", help="only this session's traces")
    add_window(p)
    p.set_defaults(func=cmd_traces)

    p = sub.add_parser(
        "annotate",
        help="score a session or a trace: --score helpful=1 --score verdict=good --comment '...'",
        description="Score a session or a trace. ID is a trace id (or a unique prefix) when such a trace exists, "
        "else a session id; --trace / --session decide. VALUE: a number (1, 0.8), true/false, or a category.",
    )
    p.add_argument("target", metavar="SESSION_OR_TRACE")
    add_db(p)
    forced = p.add_mutually_exclusive_group()
    forced.add_argument("--trace", action="store_true", help="ID is a trace id")
    forced.add_argument("--session", action="store_true", help="ID is a session id")
    p.add_argument("--score", action="append", required=True, metavar="NAME=VALUE", help="a score (repeatable)")
    p.add_argument("--comment", metavar="TEXT", help="a comment kept with each score")
    p.add_argument("--author", metavar="NAME", help="who scored")
    p.add_argument("--source", default="annotation", metavar="S", help="where the score comes from (annotation)")
    p.add_argument("--json", action="store_true", help="print the stored scores as JSON")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("demo", help="run the LangGraph demo (offline) into the store and show it")
    add_db(p)
    p.set_defaults(func=cmd_demo)

    lifecycle.add_commands(sub)
    find.add_commands(sub)

    # `threadline ui` parses its own options (threadline.ui.run_cli); listed here for --help.
    sub.add_parser("ui", help="the local web view of the store (127.0.0.1 only; needs threadline[ui])", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 not found or unusable store, 2 bad usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ui"]:
        from threadline.ui import run_cli

        return run_cli(argv[1:])
    parser = build_parser()
    args = parser.parse_args(join_negative_times(argv))
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except StoreNotFoundError as exc:
        print(
            f"threadline: {exc}. Run an app that calls threadline.instrument() first, "
            "or point at a store with --db PATH or $THREADLINE_DB.",
            file=sys.stderr,
        )
    except (StoreError, CliError) as exc:
        print(f"threadline: {exc}", file=sys.stderr)
    except ValueError as exc:  # e.g. an --order field that does not exist
        print(f"threadline: {exc}", file=sys.stderr)
    except sqlite3.Error as exc:
        print(f"threadline: could not read the store: {exc}", file=sys.stderr)
    except BrokenPipeError:  # `threadline sessions | head`
        return 0
    return 1
