"""``threadline ui``: a local web view of the trace store.

::

    pip install 'threadline[ui]'
    threadline ui [--db PATH] [--port N] [--no-browser] [--read-only]

Three pages over the SQLite store: the sessions table (the columns of
``threadline sessions``; sortable, filtered by user and time, paginated), a
session's conversation as a timeline of turns with interrupt → resume pairs,
and a trace's span tree as a waterfall with every span's attributes. It binds
127.0.0.1 only, reads the store read-only, and loads no asset from the network;
its one write route, the annotate form on session and trace pages, checks the
origin and a CSRF token, and ``--read-only`` removes it. Importing this package needs none of the extra's
dependencies; serving does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from threadline.ui.serve import DEFAULT_PORT, UIServer, run_cli

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_PORT", "UIServer", "create_app", "run_cli"]


def create_app(db: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Starlette:
    """The Starlette app over the store at ``db`` (see :func:`threadline.ui.app.create_app`)."""
    from threadline.ui.app import create_app as _create_app

    return _create_app(db, read_only=read_only)
