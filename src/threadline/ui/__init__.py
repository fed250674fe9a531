"""``threadline ui``: a read-only local web view of the trace store.

::

    pip install 'threadline[ui]'
    threadline ui [--db PATH] [--port N] [--no-browser]

Three pages over the SQLite store: the sessions table (the columns of
``threadline sessions``; sortable, filtered by user and time, paginated), a
session's conversation as a timeline of turns with interrupt → resume pairs,
and a trace's span tree as a waterfall with every span's attributes. It binds
127.0.0.1 only, opens the store read-only, has no write route, and loads no
asset from the network. Importing this package needs none of the extra's
dependencies; serving does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from threadline.ui.serve import DEFAULT_PORT, UIServer, run_cli

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_PORT", "UIServer", "create_app", "run_cli"]


def create_app(db: str | os.PathLike[str] | None = None) -> Starlette:
    """The Starlette app over the store at ``db`` (see :func:`threadline.ui.app.create_app`)."""
    from threadline.ui.app import create_app as _create_app

    return _create_app(db)
