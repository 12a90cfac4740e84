"""One progress reporter for long work.

On a terminal it is a tqdm bar on stderr. When stderr is not a terminal (a log file, CI, a
pipe) it writes one plain line at most every :data:`INTERVAL` seconds — nothing at all for work
that finishes sooner — so logs stay short and a long run still shows it is alive::

    with progress(total=len(pairs), desc="k-NN", unit="blk", enabled=not quiet) as bar:
        for ...:
            bar.update(1)

    for item in track(items, desc="LP", enabled=verbose):
        ...
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

__all__ = ["INTERVAL", "Progress", "progress", "track"]

INTERVAL = 5.0  # seconds between plain lines when stderr is not a terminal

T = TypeVar("T")


class Progress:
    """A counter shown as a tqdm bar (terminal) or as a plain line every ``interval`` seconds (otherwise)."""

    def __init__(self, total: int | None, desc: str, *, unit: str = "it", enabled: bool = True, stream=None,
                 interval: float = INTERVAL, tty: bool | None = None, rate: bool = False):
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.rate = rate  # plain lines also say how many are left and the seconds per unit so far
        self.stream = sys.stderr if stream is None else stream
        self.interval = float(interval)
        self.n = 0
        self.status = ""
        self._t0 = self._last = time.monotonic()
        self._lines = 0
        self._bar = None
        if tty is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if enabled and tty:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False)
            except ImportError:  # pragma: no cover - tqdm is a core dependency
                self._bar = None

    # -- counting --------------------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            self._maybe_line()

    def set_status(self, text: str) -> None:
        """What is running now (shown after the count)."""
        self.status = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
        else:
            self._maybe_line()

    def _maybe_line(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        status = f", {self.status}" if self.status else ""
        rate = ""
        if self.rate and self.n:
            left = f", {self.total - self.n} left" if self.total else ""
            rate = f"{left}, {(now - self._t0) / self.n:.2f} s/{self.unit}"
        print(f"{self.desc}: {count} {self.unit}{pct}{rate}{status}, {now - self._t0:.0f} s", file=self.stream,
              flush=True)
        self._lines += 1

    @property
    def lines_written(self) -> int:
        """Plain lines written so far (0 on a terminal, where the bar is used)."""
        return self._lines

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._lines:  # a log that showed progress also shows the end
            self.status = "done"
            self._maybe_line(force=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None, desc: str, *, unit: str = "it", enabled: bool = True, **kw) -> Progress:
    """A :class:`Progress` (use as a context manager)."""
    return Progress(total, desc, unit=unit, enabled=enabled, **kw)


def track(iterable: Iterable[T], *, total: int | None = None, desc: str, unit: str = "it",
          enabled: bool = True, **kw) -> Iterator[T]:
    """Iterate ``iterable`` with a :class:`Progress` counting the items."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with Progress(total, desc, unit=unit, enabled=enabled, **kw) as bar:
        for item in iterable:
            yield item
            bar.update(1)
