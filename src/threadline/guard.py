"""Keep telemetry failures away from the host application.

Everything threadline does around a user's call runs inside :func:`guard`:
a failure is logged once per place (with its traceback) and swallowed, so the
user's call, result and exception pass unchanged. Under pytest, or with
``THREADLINE_RAISE_INTERNAL=1``, it is re-raised so bugs fail the suite.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator

logger = logging.getLogger("threadline")

_lock = threading.Lock()
_reported: set[str] = set()
failure_count = 0


def raise_internal_errors() -> bool:
    """True when internal failures should surface (tests, debugging)."""
    flag = os.environ.get("THREADLINE_RAISE_INTERNAL")
    if flag is not None:
        return flag not in ("", "0", "false", "False")
    return "pytest" in sys.modules and os.environ.get("PYTEST_CURRENT_TEST") is not None


def report(where: str, exc: BaseException) -> None:
    """Log an internal failure once per ``where``; count every occurrence."""
    global failure_count
    with _lock:
        failure_count += 1
        first = where not in _reported
        if first:
            _reported.add(where)
    if first:
        logger.warning(
            "threadline: internal error in %s; tracing continues, your application is unaffected",
            where,
            exc_info=exc,
        )


def failed(where: str, exc: BaseException) -> bool:
    """Report an internal failure at ``where``; True when the caller must re-raise it.

    The ``try`` / ``except`` form of :func:`guard`, for paths that run on every
    event (a context manager per use costs more)::

        try:
            ...
        except Exception as exc:
            if failed("where", exc):
                raise
    """
    report(where, exc)
    return raise_internal_errors()


@contextlib.contextmanager
def guard(where: str) -> Iterator[None]:
    """Run telemetry code; log and swallow any failure (re-raise under tests)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the whole point
        if failed(where, exc):
            raise
