"""Finding and loading integrations from the ``threadline.integrations`` entry points."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from importlib import metadata

from threadline.integration import Integration

logger = logging.getLogger("threadline")

ENTRY_POINT_GROUP = "threadline.integrations"


class UnknownIntegrationError(ValueError):
    """Raised when ``integrations=[...]`` names an integration that is not installed."""


def available() -> dict[str, metadata.EntryPoint]:
    """Every registered integration entry point, by name."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def framework_installed(requires: str) -> bool:
    """Whether the distribution named in an integration's ``requires`` is installed."""
    if not requires:
        return True
    dist = requires
    for sep in ("<", ">", "=", "!", "~", "[", ";", " "):
        dist = dist.split(sep, 1)[0]
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def load(names: Iterable[str] | None) -> list[Integration]:
    """Instantiate the selected integrations (all installed ones when ``names`` is None).

    Each entry point loads in its own try/except: a broken plugin is logged and
    skipped, never stopping the others. A name that is not registered raises
    :class:`UnknownIntegrationError` listing what is.
    """
    eps = available()
    if names is not None:
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in eps]
        if unknown:
            raise UnknownIntegrationError(
                f"unknown threadline integration(s) {unknown}; installed: {sorted(eps) or 'none'}"
                " (install threadline-<name>)"
            )
        selected = [eps[n] for n in wanted]
    else:
        selected = list(eps.values())
    loaded: list[Integration] = []
    for ep in selected:
        try:
            cls = ep.load()
            integration = cls()
            if not framework_installed(integration.requires):
                if names is not None:
                    logger.warning(
                        "threadline: %s needs %s, which is not installed; skipped", ep.name, integration.requires
                    )
                continue
            loaded.append(integration)
        except Exception:  # noqa: BLE001 - one broken plugin never stops the others
            logger.warning("threadline: could not load integration %r; skipped", ep.name, exc_info=True)
    return loaded


def module_importable(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
