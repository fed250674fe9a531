"""The web view's query strings: page size and number, times and labels read and checked, and links back.

A value a page cannot use is added to ``problems`` (the page then answers
``400`` and says what to type instead) rather than raising.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from threadline import inputs

__all__ = ["DEFAULT_PAGE_SIZE", "PAGE_SIZES", "label_param", "link", "page_number", "per_page", "time_param"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


def per_page(text: str | None) -> int:
    """Rows per page: one of :data:`PAGE_SIZES`, else :data:`DEFAULT_PAGE_SIZE`."""
    try:
        per = int(text) if text else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return per if per in PAGE_SIZES else DEFAULT_PAGE_SIZE


def page_number(text: str | None, per: int, problems: list[str]) -> int:
    """The 1-based page; 0 and below read as the first page, a page past what an offset can be is a problem."""
    try:
        return max(inputs.count(text, "page", default=1, minimum=-inputs.MAX_ROWS, maximum=inputs.MAX_ROWS // per), 1)
    except ValueError as exc:
        problems.append(str(exc))
        return 1


def time_param(text: str, name: str, problems: list[str]) -> Any:
    """``since`` / ``until`` read by :func:`threadline.inputs.time`; ``None`` when empty or unusable."""
    if not text:
        return None
    try:
        return inputs.time(text, name)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def label_param(text: str | None, name: str, problems: list[str]) -> str | None:
    """An environment or tag filter read by :func:`threadline.inputs.label`; ``None`` when empty or unusable."""
    try:
        return inputs.label(text, name)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def link(path: str, params: dict[str, Any], defaults: dict[str, Any]) -> str:
    """``path`` with ``params`` as its query string, leaving out empty values and those at their default."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and not (k in defaults and defaults[k] == v)}
    return path + ("?" + urlencode(kept) if kept else "")
