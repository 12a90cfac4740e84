"""Verdict rules of the entropy probe and the numbers they use (see :mod:`probes.entropy`).

P1 (H(n) on pure noise): the least-squares slope b of H in ln n over [512, n_max], the local
slope at the top and ΔH = H(n_max) − H(512) decide ``collapsed`` / ``entropy-invariant`` /
``standard-like`` / ``partially-compensated``; P2 (a needle over a flat background): the fade
ratio p*(n_max)/p*(512) decides ``fading`` / ``no-fading``. The rules are applied to measured
curves and, unchanged, to the theory's curves.
"""
from __future__ import annotations

import math

import numpy as np

from probes._lazy import lazy_import

th = lazy_import("theory.entropy")

__all__ = ["P1_VERDICTS", "P2_VERDICTS", "TRAIN_N", "DELTAS", "FADE_DELTA", "GATE_TOL", "SIGMA",
           "fit_entropy_curve", "classify_entropy", "classify_needle"]

P1_VERDICTS = ("entropy-invariant", "standard-like", "partially-compensated", "collapsed", "gate-failed")
P2_VERDICTS = ("fading", "no-fading")
TRAIN_N = 512
DELTAS = (2.0, 3.0, 5.0)
FADE_DELTA = 3.0
GATE_TOL = 0.05          # nats; the finite-n correction (e^{σ²}−1)/2n is < 0.002 at n ≥ 512
SIGMA = 1.0               # logit std of q·k/√d for |q| = √d, k ~ N(0, I_d)


def fit_entropy_curve(ns, H):
    """(slope b over n ≥ 512, local slope at the top, ΔH from 512, H(512), H(n_max))."""
    L = np.log(np.asarray(ns, dtype=float))
    H = np.asarray(H, dtype=float)
    sel = np.asarray(ns) >= TRAIN_N
    if sel.sum() < 2 or not np.all(np.isfinite(H[sel])):
        return float("nan"), float("nan"), float("nan"), float("nan"), float(H[-1])
    b = float(np.polyfit(L[sel], H[sel], 1)[0])
    local = float((H[-1] - H[-2]) / (L[-1] - L[-2]))
    i512 = int(np.argmax(sel))
    return b, local, float(H[-1] - H[i512]), float(H[i512]), float(H[-1])


def classify_entropy(ns, H, *, max_weight: float = 0.0, dead: float = 0.0) -> str:
    """The P1 verdict of an H(n) curve (rules in the module docstring)."""
    b, local, dH, h512, htop = fit_entropy_curve(ns, H)
    if dead > 0.5 or not math.isfinite(htop) or htop < 2.0 or max_weight > 0.5:
        return "collapsed"
    h_std = float(th.MEAN_FIELD.predict("H", n=TRAIN_N, lam=1.0, sigma=SIGMA))
    if abs(b) <= 0.1 and abs(dH) <= 0.5 and local >= -0.05 and abs(h512 - h_std) <= 0.5:
        return "entropy-invariant"
    if 0.9 <= b <= 1.1:
        return "standard-like"
    return "partially-compensated"


def classify_needle(ns, share) -> tuple[str, float]:
    """(P2 verdict, fade ratio p*(n_max)/p*(512))."""
    i512 = list(ns).index(TRAIN_N)
    ratio = float(share[-1] / share[i512]) if share[i512] > 0 else 0.0
    return ("no-fading" if ratio >= 0.5 else "fading"), ratio
