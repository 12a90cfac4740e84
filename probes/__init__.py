"""attnprobe probes: numeric measurements of attention properties, beside the theory's predictions."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attnprobe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+src"

__all__ = ["__version__"]
