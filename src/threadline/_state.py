"""Process state: the settings of :func:`threadline.instrument` and what it set up.

Read by every layer (session scopes, the span processor, scores) and written
only by :mod:`threadline._runtime`. It imports nothing of threadline above the
leaf modules its defaults come from, so reading it never forms an import cycle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from threadline.content import DEFAULT_MAX_CHARS
from threadline.dialects import DIALECTS

if TYPE_CHECKING:
    from threadline.cost import ModelRate

logger = logging.getLogger("threadline")

DEFAULT_SESSION_KEYS: tuple[str, ...] = ("session_id", "thread_id", "conversation_id")
DEFAULT_USER_KEYS: tuple[str, ...] = ("user_id",)


@dataclass
class Settings:
    """What :func:`threadline.instrument` was configured with."""

    capture_content: bool = True
    redact: Callable[[Any], Any] | None = None
    max_content_chars: int = DEFAULT_MAX_CHARS
    session_keys: Sequence[str] = DEFAULT_SESSION_KEYS
    user_keys: Sequence[str] = DEFAULT_USER_KEYS
    session_id_from: Callable[[str], str] | None = None
    prices: Mapping[str, ModelRate | Mapping[str, float]] | None = None
    retention: Any = None
    """How long the default SQLite store keeps sessions (see :class:`SQLiteSpanExporter`)."""
    capture_exception_text: bool | None = None
    dialects: Sequence[str] = DIALECTS
    project: str | None = None
    environment: str | None = None
    propagate_session: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def map_session_id(self, raw: Any) -> Any:
        """Apply the user's ``session_id_from`` mapper to a raw id, if any."""
        if self.session_id_from is None or raw is None:
            return raw
        try:
            return self.session_id_from(raw if isinstance(raw, str) else str(raw))
        except Exception:  # noqa: BLE001
            logger.warning("threadline: session_id_from raised; using the raw id", exc_info=True)
            return raw


class State:
    """The process's one pipeline: provider, emitter, exporters and loaded integrations."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.dropped_at_flush = 0  # threadline.exporters._safe.dropped_spans() at the last flush
        self.provider: Any = None
        self.owns_provider = False
        self.emitter: Any = None  # the threadline.emitter.Emitter of the pipeline (not imported: it sits above)
        self.integrations: dict[str, Any] = {}
        self.atexit_registered = False
        self.exited = False  # the exit flush ran: later exit hooks and signals do nothing
        self.exporters: list[Any] = []  # what the owned provider exports to, as the user passed them
        self.dialect_exporters: list[Any] = []  # the DialectSpanExporter wrappers of the owned provider


state = State()


def settings() -> Settings:
    """The active settings (defaults before :func:`threadline.instrument`)."""
    return state.settings
