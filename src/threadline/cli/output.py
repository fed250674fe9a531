"""What every ``threadline`` command prints with: the console, JSON, and the pieces of text its views share.

Stored text is never read as markup and loses its control characters
(:mod:`threadline.safe_text`); numbers and times are
:mod:`threadline.formatting`'s, so the terminal and the web view read the same.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

from threadline.formatting import fmt_cost, fmt_local, fmt_tokens
from threadline.safe_text import clean, inert_console, json_text

__all__ = [
    "DEFAULT_WIDTH",
    "OUTCOME_STYLE",
    "Fields",
    "cost_split",
    "make_console",
    "one_line",
    "outcome_text",
    "print_json",
    "print_rows",
    "safe",
    "short_time",
    "usage_text",
]

DEFAULT_WIDTH = 100  # when not a terminal and $COLUMNS is unset

OUTCOME_STYLE = {
    "ok": "green",
    "resumed": "cyan",
    "interrupted": "yellow",
    "error": "bold red",
    "cancelled": "magenta",
}
"""The colour of each trace outcome."""


def make_console(file: Any = None) -> Console:
    """A console that writes plain text (no colour, 100 columns) when not on a terminal.

    Stored text is never read as markup and loses its control characters (see :mod:`threadline.safe_text`).
    """
    stream = file if file is not None else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    width = None if is_tty or os.environ.get("COLUMNS") else DEFAULT_WIDTH
    return inert_console(file=file, width=width, soft_wrap=False)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on standard output, with what JSON leaves raw escaped."""
    sys.stdout.write(json_text(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")


def print_rows(
    rows: Sequence[Any], path: Path, what: str, *, as_json: bool, table: Callable[[Console], RenderableType]
) -> int:
    """A listing command's output: its rows as JSON, its ``table``, or that no ``what`` matched in ``path``."""
    if as_json:
        print_json([row.to_dict() for row in rows])
        return 0
    console = make_console()
    if not rows:
        console.print(f"No {what} in {path} (matching these filters).")
        return 0
    console.print(table(console))
    return 0


def one_line(text: str) -> str:
    """Stored text on one line, without control characters (:func:`threadline.safe_text.clean`)."""
    return clean(text).replace("\n", " ")


def safe(text: str | None) -> str:
    """``text`` made inert for a terminal (:func:`threadline.safe_text.clean`); ``-`` for ``None``."""
    return "-" if text is None else clean(text)


def short_time(ns: int | None, same_day_as: int | None = None) -> str:
    """Local time to the minute for table cells; ``MM-DD`` in front unless it is the day of ``same_day_as``."""
    return fmt_local(ns, same_day_as, clock="%H:%M", day="%m-%d")


def outcome_text(outcome: str) -> Text:
    """A trace outcome in its colour."""
    return Text(outcome, style=OUTCOME_STYLE.get(outcome, ""))


def usage_text(item: Any) -> str:
    """``in 1,500 (cached 1,000) · out 200 (reasoning 50) · $0.0012``: what ``item`` reports, nothing else."""
    parts: list[str] = []
    if item.input_tokens is not None:
        details = []
        if item.cache_read_tokens:
            details.append(f"cached {fmt_tokens(item.cache_read_tokens)}")
        if item.cache_write_tokens:
            details.append(f"cache write {fmt_tokens(item.cache_write_tokens)}")
        parts.append(f"in {fmt_tokens(item.input_tokens)}" + (f" ({', '.join(details)})" if details else ""))
    if item.output_tokens is not None:
        reasoning = f" (reasoning {fmt_tokens(item.reasoning_tokens)})" if item.reasoning_tokens else ""
        parts.append(f"out {fmt_tokens(item.output_tokens)}{reasoning}")
    if item.cost_usd is not None:
        parts.append(fmt_cost(item.cost_usd))
    return " · ".join(parts)


def cost_split(item: Any) -> str:
    """`` (input $x, output $y)`` when the cost's split is known, else nothing."""
    if item.cost_input_usd is None and item.cost_output_usd is None:
        return ""
    return f" (input {fmt_cost(item.cost_input_usd)}, output {fmt_cost(item.cost_output_usd)})"


class Fields:
    """Labelled values (``input:``, ``output:`` ...) with wrapped lines indented under the value.

    Unlike a table grid, it pads nothing, so piped output has no trailing spaces.
    """

    def __init__(self, indent: int = 2) -> None:
        self.indent = indent
        self.rows: list[tuple[str, str, str]] = []

    def add(self, label: str, value: str, style: str = "dim") -> None:
        """Add one ``label: value`` row."""
        self.rows.append((label, value, style))

    def __rich_console__(self, console: Console, options: Any) -> Any:
        if not self.rows:
            return
        label_width = max(len(label) for label, _, _ in self.rows) + 1
        left = self.indent + label_width
        width = max(options.max_width - left, 20)
        for label, value, style in self.rows:
            lines = Text(value).wrap(console, width, overflow="fold")
            for i, line in enumerate(lines):
                out = Text(" " * self.indent)
                if i == 0:
                    out.append(label.ljust(label_width), style=style)
                else:
                    out.append(" " * label_width)
                out.append_text(line)
                out.rstrip()
                yield out
