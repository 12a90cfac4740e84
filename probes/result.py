"""The result contract shared by every probe.

A probe returns a frozen dataclass that mixes in :class:`Result`: the measured
numbers, the theory's prediction beside them, a verdict from a fixed vocabulary,
and the seed/dtype/device used. ``to_dict()`` gives plain JSON types;
``str(result)`` is a short two-column table.
"""
from __future__ import annotations

import dataclasses
import math
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["Result", "jsonable"]


def jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars and arrays, dataclasses, enums and tuples to JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if type(value).__module__.startswith("torch"):
        try:
            import torch

            if isinstance(value, torch.Tensor):
                return jsonable(value.detach().cpu().tolist())
            if isinstance(value, (torch.dtype, torch.device)):
                return str(value)
        except ImportError:  # pragma: no cover
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"[{', '.join(_short(v) for v in value[:3])}, ... ({len(value)} items)]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in list(value.items())[:6]) + ("" if len(value) <= 6 else ", ...") + "}"
    return str(value)


class Result:
    """Mixin for frozen result dataclasses: ``to_dict()`` and a readable ``__str__``."""

    def to_dict(self) -> dict:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        rows = [(f.name, _short(jsonable(getattr(self, f.name)))) for f in dataclasses.fields(self)]
        width = max(len(k) for k, _ in rows)
        title = type(self).__name__
        return "\n".join([title, "-" * len(title)] + [f"{k.ljust(width)}  {v}" for k, v in rows])
