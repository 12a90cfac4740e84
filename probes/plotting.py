"""The one plot-saving step: matplotlib (Agg) or a clear error, and ``save(fig, path)``.

Plots are an extra (``pip install 'attnprobe[plot]'``): :func:`pyplot` raises
:class:`probes.errors.InputError` saying so when matplotlib is missing, and nothing else in
attnprobe imports matplotlib.
"""
from __future__ import annotations

from pathlib import Path

from probes.errors import InputError

__all__ = ["MISSING", "pyplot", "save", "available"]

MISSING = "plots need matplotlib: pip install 'attnprobe[plot]'"


def available() -> bool:
    """Whether matplotlib can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or :class:`InputError` naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError(MISSING) from exc
    return plt


def save(fig, path, *, dpi: int | None = None, legend=None) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders created), close it; returns the path.

    ``legend``: an axes (or a list of axes) whose legend is drawn first, small.
    """
    plt = pyplot()
    for ax in ([] if legend is None else legend if isinstance(legend, (list, tuple)) else [legend]):
        ax.legend(fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, **({} if dpi is None else {"dpi": dpi}))
    plt.close(fig)
    return path
