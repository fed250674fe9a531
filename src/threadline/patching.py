"""Reversible wrapt patches with the wrapper shape of DESIGN.md.

:func:`patch` wraps ``module.attr`` with a :class:`Patch` wrapper, immediately
when the module is imported and on its first import otherwise (wrapt's
post-import hooks). :meth:`Patch.remove` restores the original when our
wrapper is still the outermost; when someone wrapped on top of us it turns
ours into a pass-through instead, so their wrapper keeps working.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

import wrapt

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


class Patch:
    """One wrapt patch of ``module:qualname`` that can be taken back."""

    def __init__(self, module: str, qualname: str, wrapper: Wrapper) -> None:
        self.module = module
        self.qualname = qualname
        self._wrapper = wrapper
        self.active = False
        self.applied = False
        self._proxy: Any = None
        self._original: Any = None
        self._parent: Any = None
        self._inherited = False
        self._attr = qualname.rsplit(".", 1)[-1]
        self._lock = threading.Lock()

    def _call(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not self.active:
            return wrapped(*args, **kwargs)
        return self._wrapper(wrapped, instance, args, kwargs)

    def apply(self, module: Any = None) -> None:
        """Install the wrapper now (the module must be importable)."""
        with self._lock:
            if self.applied:
                self.active = True
                return
            mod = module if module is not None else importlib.import_module(self.module)
            parent, attribute, original = wrapt.resolve_path(mod, self.qualname)
            self._parent, self._original = parent, original
            # Patching a class for a method it inherits shadows the base's; removal must
            # delete the shadow rather than leave a copy that hides later changes to the base.
            self._inherited = inspect.isclass(parent) and attribute not in vars(parent)
            self._proxy = wrapt.FunctionWrapper(original, self._call)
            setattr(parent, attribute, self._proxy)
            self.applied = True
            self.active = True

    def remove(self) -> None:
        """Restore the original, or become a pass-through if wrapped over since."""
        with self._lock:
            self.active = False
            if not self.applied:
                return
            current = self._parent.__dict__.get(self._attr) if hasattr(self._parent, "__dict__") else None
            if current is None:
                current = getattr(self._parent, self._attr, None)
            if current is self._proxy:
                if self._inherited:
                    delattr(self._parent, self._attr)
                else:
                    setattr(self._parent, self._attr, self._original)
                self.applied = False


class PatchSet:
    """Patches applied together, each on its module's import if not imported yet."""

    def __init__(self) -> None:
        self.patches: list[Patch] = []

    def add(self, module: str, qualname: str, wrapper: Wrapper) -> Patch:
        """Patch ``module.qualname`` with ``wrapper`` now, or on first import."""
        patch = Patch(module, qualname, wrapper)
        self.patches.append(patch)
        if module in sys.modules:
            patch.apply(sys.modules[module])
        else:
            patch.active = True

            @wrapt.when_imported(module)
            def _on_import(mod: Any, _patch: Patch = patch) -> None:
                if _patch.active:
                    _patch.apply(mod)

        return patch

    def remove(self) -> None:
        """Take every patch back (a pending one simply never applies)."""
        for patch in reversed(self.patches):
            patch.remove()
        self.patches.clear()
