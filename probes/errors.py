"""The one exception type attnprobe raises for bad input.

``InputError`` names the input, what was wrong and what to do; the CLI prints it
as a single line and exits with status 2. It subclasses ``ValueError`` so that
library callers can catch it as such.
"""
from __future__ import annotations

__all__ = ["InputError", "NotApplicable", "Diverged", "require_finite", "check_finite"]


class InputError(ValueError):
    """Bad input: wrong shape, NaN/Inf, unknown design, unsafe file, ..."""


class NotApplicable(InputError):
    """A probe cannot run on this subject (e.g. it needs attention weights the module does not expose).

    ``attnprobe audit`` without ``--probe`` skips such probes and says why; asked for by
    name, the probe's refusal is an error like any other.
    """


class Diverged(InputError):
    """A probe's own measurement went non-finite on a design: NaN/Inf weights, entropies, FVUs or slopes.

    There is no verdict then. The message names the design, the quantity and where it
    first went non-finite. ``attnprobe audit`` reports the probe as ``diverged`` and goes on
    with the others; asked for by name (``--probe``), it is a one-line error with exit 2.
    """

    def __init__(self, design: str, quantity: str, detail: str = ""):
        self.design, self.quantity, self.detail = design, quantity, detail
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{design}: {quantity} is not finite{extra}; no verdict from NaN/Inf")

    def __reduce__(self):  # rebuilt from its own fields (a Dask worker's error reaches the client intact)
        return (type(self), (self.design, self.quantity, self.detail))


def _all_finite_fast(value) -> bool:
    """True only if every entry of a large float numpy array is finite, from one float64 sum (no mask
    temporary): a NaN or Inf entry always makes the sum non-finite. False means "look entry by entry"
    (it may be an overflow of the sum alone)."""
    import numpy as np

    if not isinstance(value, np.ndarray) or value.size < 1 << 16 or value.dtype.kind != "f":
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(value.sum(dtype=np.float64)))


def check_finite(design: str, quantity: str, value, where: str = "") -> None:
    """Raise :class:`Diverged` naming ``design`` if ``value`` (number, numpy or torch array) holds NaN or Inf."""
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if _all_finite_fast(value):
        return
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
        kind = "NaN" if np.isnan(arr[bad]).any() else "Inf"
        at = f"first {kind} at index {first}" if first else kind
        raise Diverged(design, quantity, f"{at}{', ' + where if where else ''}")


def require_finite(name: str, array) -> None:
    """Raise :class:`InputError` if ``array`` (numpy or torch) holds NaN or Inf."""
    import numpy as np

    try:
        import torch

        if isinstance(array, torch.Tensor):
            if not array.is_floating_point() and not array.is_complex():
                return
            if array.numel() and not array.is_complex():
                lo, hi = torch.aminmax(array.detach())  # one read, no mask: NaN propagates, ±Inf shows at an end
                if bool(torch.isfinite(lo)) and bool(torch.isfinite(hi)):
                    return
            bad = ~torch.isfinite(array)
            if bool(bad.any()):
                idx = tuple(int(i) for i in bad.nonzero()[0])
                raise InputError(f"{name}: contains NaN or Inf (first at index {idx}); clean the input first")
            return
    except ImportError:  # pragma: no cover
        pass
    if _all_finite_fast(array):
        return
    arr = np.asarray(array)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{name}: contains NaN or Inf (first at index {idx}); clean the input first")
