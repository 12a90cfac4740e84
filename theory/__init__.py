"""attnprobe theory: sympy derivations, one module per property.

Every module defines ``DERIVATIONS``, a list of :class:`theory.derivation.Derivation`
objects; :func:`all_derivations` finds them all. Importing this package (or any
module in it) does no symbolic work: steps keep their sides unevaluated until
``check()``, and predictions are lambdified on first use. ``tests/test_theory_steps.py``
checks every step of every module, shows none is settled before it is checked,
and that each fails when its right side is perturbed.
"""
from __future__ import annotations

import importlib
import pkgutil

__all__ = ["Derivation", "DerivationError", "all_derivations", "modules"]


def __getattr__(name):  # PEP 562: importing ``theory`` does not import sympy
    if name in ("Derivation", "DerivationError"):
        from theory import derivation

        return getattr(derivation, name)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")


def modules() -> list[str]:
    """The names of the property modules (``theory.<name>``), without importing them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith("_") and m.name != "derivation")


def all_derivations() -> list:
    """Every derivation of every module in this package (imported on demand)."""
    found = []
    for name in modules():
        mod = importlib.import_module(f"{__name__}.{name}")
        found.extend(getattr(mod, "DERIVATIONS", []))
    return found
