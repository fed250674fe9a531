"""``threadline demo``: run a demo app into the store, then show what it recorded.

The app module is named by :data:`threadline.cli.DEMO_MODULE` (the LangGraph
demo of the ``threadline-langgraph`` integration); its ``run()`` returns the
session ids it wrote, which are then listed and replayed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Sequence

from threadline.cli.args import CliError, store_path
from threadline.cli.listing import sessions_table
from threadline.cli.output import make_console
from threadline.cli.replay import replay
from threadline.store import queries

__all__ = ["run_demo"]


def run_demo(args: argparse.Namespace, module: str, integrations: Sequence[str]) -> int:
    """Instrument ``integrations`` into the store, run ``module``'s demo, and print its sessions and replays."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise CliError(
            f"the demo needs {module} (the threadline-langgraph integration); install it with "
            "`./dev demo` from the repository root or `pip install -e integrations/langgraph`"
        )
    import threadline
    from threadline.exporters.sqlite import SQLiteSpanExporter
    from threadline.plugins import UnknownIntegrationError

    path = store_path(args)
    try:
        threadline.instrument(exporter=SQLiteSpanExporter(path), integrations=list(integrations))
    except UnknownIntegrationError as exc:
        raise CliError(f"the demo needs the langchain and langgraph integrations: {exc}") from None
    try:
        session_ids = [str(i) for i in importlib.import_module(module).run() or []]
        threadline.flush()
        console = make_console()
        console.print(f"Demo traces written to {path}\n")
        sessions = queries.list_sessions(path, session_ids=session_ids, order_by="first_trace", limit=len(session_ids))
        if sessions:
            console.print(sessions_table(sessions, console.width))
        for session_id in session_ids:
            detail = queries.get_session(path, session_id)
            if detail is not None:
                console.print()
                console.print(replay(detail))
        db_flag = "" if args.db is None else f" --db {path}"
        console.print(
            f"\nExplore the store:\n  threadline sessions{db_flag}\n  threadline session SESSION_ID{db_flag}"
            f"\n  threadline trace TRACE_ID{db_flag}"
        )
    finally:
        threadline.shutdown()
    return 0
