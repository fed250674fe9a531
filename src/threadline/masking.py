"""Mask credentials in free text: API keys and bearer tokens that an error message echoes.

Servers and SDKs put secrets in error text ("Incorrect API key provided:
sk-..."), and exception messages, stack traces and span statuses are
exported. :func:`mask` replaces strings shaped like keys and tokens, and the
key values integrations know (:func:`remember`), with :data:`MASK`.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "mask", "remember"]

MASK = "[masked]"
_MIN_SECRET = 8  # shorter values are too likely to be ordinary words
_MAX_REMEMBERED = 16

# Each shape keeps its prefix (group "keep") so the text still says what kind of secret it was.
_SHAPES = re.compile(
    r"(?P<keep>\b(?:sk|rk)-)[A-Za-z0-9_\-*]{8,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-); starred forms too
    r"|(?P<keep2>\b[Bb]earer\s+)[A-Za-z0-9\-._~+/*]{8,}=*"  # Authorization: Bearer <token>
    r"|\bAIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
)

_lock = threading.Lock()
_known: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first
_known_pattern: re.Pattern[str] | None = None


def remember(secret: object) -> None:
    """Mask this exact value from now on (e.g. the API key of a client an integration saw).

    Only strings of 8 characters or more count; the last 16 are kept.
    """
    global _known_pattern
    if not isinstance(secret, str) or len(secret) < _MIN_SECRET or secret in _known:
        return
    with _lock:
        _known[secret] = None
        while len(_known) > _MAX_REMEMBERED:
            del _known[next(iter(_known))]
        # Longest first, so that a key containing another is masked whole.
        _known_pattern = re.compile("|".join(re.escape(k) for k in sorted(_known, key=len, reverse=True)))


def _replace(match: re.Match[str]) -> str:
    return (match.group("keep") or match.group("keep2") or "") + MASK


def mask(text: str) -> str:
    """``text`` with every key-shaped string, bearer token and remembered secret masked."""
    known = _known_pattern
    if known is not None:
        text = known.sub(MASK, text)
    return _SHAPES.sub(_replace, text)
