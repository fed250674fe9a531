"""Text from traces is hostile: make it inert before a terminal or a browser shows it.

Stored prompts, completions, user ids and model names can carry terminal
escape sequences (a window title, a screen clear, a hyperlink), other
control characters, bidirectional overrides that reorder what is displayed,
and Rich markup (``[link=...]``, a stray ``[/bold]`` that makes Rich raise).
:func:`clean` removes the characters; :func:`inert_console` is a Rich console
that never reads markup and cleans every line it renders; :func:`json_text`
escapes what JSON would otherwise print raw.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.segment import Segment

__all__ = ["UNSAFE", "clean", "inert_console", "json_text"]

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a one-character CSI), and the
# bidirectional marks, embeddings, overrides and isolates (text that displays in another order).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw among those (it escapes the C0 controls itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` without control characters (tab and newline kept) and bidirectional controls."""
    return UNSAFE.sub("", text)


def json_text(text: str) -> str:
    """JSON text with the characters :func:`clean` removes written as ``\\uXXXX`` escapes (same data)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _Cleaned:
    """Renders a renderable and removes unsafe characters from its text (never from Rich's own codes).

    After layout: the characters removed take no cells, so alignment is unchanged.
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            if segment.control is None and UNSAFE.search(segment.text):
                yield Segment(clean(segment.text), segment.style)
            else:
                yield segment


class _CleanAll(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [_Cleaned(r) for r in renderables]


def inert_console(**options: Any) -> Console:
    """A Rich ``Console`` for stored text: no markup, emoji codes or highlighting, unsafe characters removed."""
    console = Console(markup=False, emoji=False, highlight=False, **options)
    console.push_render_hook(_CleanAll())
    return console
