"""The guard of :mod:`threadline.guard`, as a ``try`` / ``except`` for paths that run on every event.

``with guard(...)`` builds a context manager per use; callbacks fire several
times per run, so the hot paths write ``try: ... except Exception as exc: if
failed(where, exc): raise`` instead, with the same behaviour: logged once per
place, swallowed, re-raised only under tests (``THREADLINE_RAISE_INTERNAL``).
"""

from __future__ import annotations

from threadline.guard import raise_internal_errors, report


def failed(where: str, exc: BaseException) -> bool:
    """Report an internal failure at ``where``; True when the caller must re-raise it."""
    report(where, exc)
    return raise_internal_errors()
