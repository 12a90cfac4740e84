"""Lazy module imports, so that importing a probe (or running ``attnprobe --help``) does no heavy work.

``th = lazy_import("theory.entropy")`` binds a module object whose code runs on the
first attribute access (:class:`importlib.util.LazyLoader`); the theory modules,
sympy and scipy are then loaded only by the probes that use them.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__all__ = ["lazy_import"]


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, executed on first attribute access (already imported: returned as is)."""
    if name in sys.modules:
        return sys.modules[name]
    parent = name.rpartition(".")[0]
    if parent:
        importlib.import_module(parent)
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if parent:
        setattr(sys.modules[parent], name.rpartition(".")[2], module)
    loader.exec_module(module)
    return module
