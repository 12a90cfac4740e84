"""attnprobe probes: numeric measurements of attention properties, beside the theory's predictions."""
from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("attnprobe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+src"

__all__ = ["__version__", "ShadowedPackage"]


class ShadowedPackage(ImportError):
    """A package of the user's, named like one of attnprobe's, would be imported in its place."""


def _guard_siblings() -> None:
    """Stop with one clear line when ``theory`` would not be attnprobe's own (a user's package shadows it).

    attnprobe's top-level packages (probes, theory, paper_checks) live side by side; a project with
    its own ``theory/`` earlier on ``sys.path`` would otherwise give a mixed tree of modules.
    """
    home = Path(__file__).resolve().parent.parent
    for name in ("theory",):
        mod = sys.modules.get(name)
        if mod is not None:
            locations = list(getattr(mod, "__path__", []) or ([mod.__file__] if getattr(mod, "__file__", None) else []))
        else:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                continue
            locations = list(spec.submodule_search_locations or ([spec.origin] if spec.origin else []))
        if not locations:
            continue
        where = Path(locations[0]).resolve()
        if where.parent != home and where != home / name:
            raise ShadowedPackage(
                f"a package named {name!r} at {where} shadows attnprobe's {name}/ (expected {home / name}); "
                f"rename yours or run from elsewhere")


_guard_siblings()
