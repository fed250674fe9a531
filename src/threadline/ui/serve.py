"""Serving the web view: ``threadline ui`` and a background server for tests and notebooks."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from threadline.store.schema import resolve_path
from threadline.ui.store import check_store

__all__ = ["DEFAULT_PORT", "LOCAL_HOSTS", "UIServer", "main", "run_cli"]

DEFAULT_PORT = 6175
LOCAL_HOSTS = ("127.0.0.1", "localhost")
BIND_ADDRESS = "127.0.0.1"
EXTRA_HINT = "pip install 'threadline[ui]'"


class MissingExtraError(RuntimeError):
    """The web view's optional dependencies are not installed."""


def _load_server() -> tuple[Any, Any]:
    """``(uvicorn, create_app)``, or :class:`MissingExtraError` naming the extra to install."""
    try:
        import uvicorn

        from threadline.ui.app import create_app
    except ImportError as exc:
        raise MissingExtraError(f"the web view needs the ui extra ({exc.name or exc}): {EXTRA_HINT}") from None
    return uvicorn, create_app


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (``port`` 0: any free port). Raises ``OSError`` when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((BIND_ADDRESS, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _config(uvicorn: Any, app: Any) -> Any:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)


class UIServer:
    """The web view served from a background thread on 127.0.0.1 (``port`` 0 picks a free one).

    >>> with UIServer("traces.db") as server:
    ...     print(server.url)
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, port: int = 0, *, read_only: bool = False) -> None:
        uvicorn, create_app = _load_server()
        self.db = resolve_path(db)
        self._socket = bind(port)
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{BIND_ADDRESS}:{self.port}"
        self._server = uvicorn.Server(_config(uvicorn, create_app(self.db, read_only=read_only)))
        self._thread = threading.Thread(target=self._run, name="threadline-ui", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> UIServer:
        """Start serving; returns once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the threadline ui server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and close the socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    """The ``threadline ui`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="threadline ui",
        description="Browse the local trace store in a web browser: sessions, conversations, span trees, "
        "scores. Served on 127.0.0.1 only; its one write is the annotate form (--read-only removes it).",
    )
    parser.add_argument(
        "--db", metavar="PATH", default=None, help="the store (default: $THREADLINE_DB, else .threadline/traces.db)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="N", help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--host",
        default=BIND_ADDRESS,
        metavar="HOST",
        help="127.0.0.1 or localhost only: the view shows prompts and outputs and is never exposed",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument(
        "--read-only", action="store_true", help="no annotate form and no write route: the view never writes"
    )
    return parser


def _fail(message: str) -> int:
    print(f"threadline ui: {message}", file=sys.stderr)
    return 1


def run_cli(argv: Sequence[str] | None = None) -> int:
    """``threadline ui``: serve the web view until interrupted; returns the exit status.

    0 after Ctrl-C, 1 when the store is missing or unusable, the port is taken
    or the ui extra is not installed, 2 for bad arguments (including a
    ``--host`` other than 127.0.0.1 / localhost).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help is 0, a usage error 2
        return int(exc.code or 0)
    if args.host not in LOCAL_HOSTS:
        print(
            f"threadline ui: refusing --host {args.host}: the view serves prompts and outputs, so it binds "
            "127.0.0.1 only (use an SSH tunnel to reach it from elsewhere)",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port} is not a TCP port")
    db = resolve_path(args.db)
    problem = check_store(db)
    if problem is not None:
        return _fail(problem)
    try:
        uvicorn, create_app = _load_server()
    except MissingExtraError as exc:
        return _fail(str(exc))
    try:
        sock = bind(args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {BIND_ADDRESS}:{args.port} ({exc.strerror or exc}); choose another --port")
    port = sock.getsockname()[1]
    url = f"http://{BIND_ADDRESS}:{port}/"
    mode = "read-only" if args.read_only else "annotations on"
    print(f"threadline ui: serving {Path(db).resolve()} ({mode}) at {url}  (Ctrl-C to stop)", file=sys.stderr)
    if not args.no_browser:
        # The socket already listens, so the browser's first request waits in the backlog.
        webbrowser.open(url)
    server = uvicorn.Server(_config(uvicorn, create_app(db, read_only=args.read_only)))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def main() -> None:
    """Entry point for ``python -m threadline.ui``."""
    sys.exit(run_cli())
