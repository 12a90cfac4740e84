"""Standard errors for the claims' Monte-Carlo quantities.

A tolerance on a Monte-Carlo quantity is ``z`` standard errors (``claim.close(q, m, e,
se=SE, z=Z)``). Where a probe returns one number from one random draw, its SE is the
spread of that number over independent replicate draws (other seeds): the standard
deviation of the replicates is the standard error of the one run. Where a claim averages
R runs, the SE of the average is that standard deviation over √R.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = ["Z", "Spread", "spread", "over_seeds", "replicate_seeds"]

#: the stated multiple of the standard error used by every Monte-Carlo tolerance
Z = 4.0
#: replicate draws per SE estimate (besides the claim's own draw)
REPLICATES = 6


@dataclass(frozen=True)
class Spread:
    """Values of one quantity over independent draws: their mean, sd (ddof = 1) and the SE of the mean."""

    values: tuple

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        """The standard deviation of one draw's value (the SE of a single run)."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else math.nan

    @property
    def se(self) -> float:
        """The standard error of :attr:`mean` (sd/√n)."""
        return self.sd / math.sqrt(self.n)


def spread(values: Iterable[float]) -> Spread:
    vals = tuple(float(v) for v in values)
    if len(vals) < 2:
        raise ValueError("a spread needs at least two draws")
    return Spread(vals)


def replicate_seeds(seed: int, k: int = REPLICATES) -> tuple[int, ...]:
    """``k`` seeds for replicate draws, disjoint from the claims' own seeds (0…999) and from one another
    across the claim seeds (``--claims-seeds`` shifts ``seed``)."""
    return tuple(1000 * (int(seed) + 1) + 17 * r for r in range(1, k + 1))


def over_seeds(fn: Callable[[int], float | Sequence[float]], seeds: Iterable[int]) -> Spread | list[Spread]:
    """The spread of ``fn(seed)`` over ``seeds``; if ``fn`` returns a sequence, one spread per position."""
    outs = [fn(s) for s in seeds]
    if outs and isinstance(outs[0], (list, tuple, np.ndarray)):
        return [spread(col) for col in zip(*outs)]
    return spread(outs)
