"""The one exception type attnprobe raises for bad input.

``InputError`` names the input, what was wrong and what to do; the CLI prints it
as a single line and exits with status 2. It subclasses ``ValueError`` so that
library callers can catch it as such.
"""
from __future__ import annotations

__all__ = ["InputError", "NotApplicable", "require_finite"]


class InputError(ValueError):
    """Bad input: wrong shape, NaN/Inf, unknown design, unsafe file, ..."""


class NotApplicable(InputError):
    """A probe cannot run on this subject (e.g. it needs attention weights the module does not expose).

    ``attnprobe audit`` without ``--probe`` skips such probes and says why; asked for by
    name, the probe's refusal is an error like any other.
    """


def require_finite(name: str, array) -> None:
    """Raise :class:`InputError` if ``array`` (numpy or torch) holds NaN or Inf."""
    import numpy as np

    try:
        import torch

        if isinstance(array, torch.Tensor):
            bad = ~torch.isfinite(array)
            if bool(bad.any()):
                idx = tuple(int(i) for i in bad.nonzero()[0])
                raise InputError(f"{name}: contains NaN or Inf (first at index {idx}); clean the input first")
            return
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(array)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{name}: contains NaN or Inf (first at index {idx}); clean the input first")
