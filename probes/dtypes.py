"""One dtype parser for every probe and command.

``parse_dtype("float64")`` → ``torch.float64``; a ``torch.dtype`` passes through; ``"double"``,
``"float"`` and ``"torch.float32"`` are accepted too. Anything else is an
:class:`probes.errors.InputError` naming the flag and the choices. ``dtype_name`` is the
inverse used in results (``"float64"``).
"""
from __future__ import annotations

from probes.errors import InputError

__all__ = ["DTYPE_NAMES", "parse_dtype", "dtype_name"]

# name -> torch attribute; the probes are exact in float64 and accept float32 with looser thresholds
DTYPE_NAMES = {"float64": "float64", "double": "float64", "float32": "float32", "float": "float32"}


def parse_dtype(value, *, flag: str = "--dtype", hint: str = "float64 or float32"):
    """``value`` (a name or a ``torch.dtype``) as a floating ``torch.dtype`` (float32 or float64)."""
    import torch

    if isinstance(value, torch.dtype):
        if value not in (torch.float32, torch.float64):
            raise InputError(f"{flag} {dtype_name(value)}: use {hint}")
        return value
    name = str(value).strip().lower().removeprefix("torch.")
    if name not in DTYPE_NAMES:
        raise InputError(f"{flag} {value!r}: use {hint}")
    return getattr(torch, DTYPE_NAMES[name])


def dtype_name(dtype) -> str:
    """``torch.float64`` → ``"float64"`` (strings pass through)."""
    return str(dtype).replace("torch.", "")
