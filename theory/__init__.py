"""attnprobe theory: sympy derivations, one module per property.

Every module defines ``DERIVATIONS``, a list of :class:`theory.derivation.Derivation`
objects; :func:`all_derivations` finds them all (``tests/test_theory_steps.py``
checks every step of every one).
"""
from __future__ import annotations

import importlib
import pkgutil

from theory.derivation import Derivation, DerivationError

__all__ = ["Derivation", "DerivationError", "all_derivations"]


def all_derivations() -> list[Derivation]:
    """Every derivation of every module in this package (imported on demand)."""
    found: list[Derivation] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "derivation":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(mod, "DERIVATIONS", []))
    return found
