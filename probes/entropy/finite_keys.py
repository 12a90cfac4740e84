"""Finite-key numerics: E H of softmax(λs + b) for independent Gaussian scores, exactly (theory.entropy.FINITE_KEYS).

Only the quadratures live here (Gauss–Hermite tables of the lognormal transforms, a trapezoid
in v = ln t); every integrand and the final combination are the theory's predictions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from probes._lazy import lazy_import
from probes.entropy.verdicts import SIGMA
from probes.errors import InputError

th = lazy_import("theory.entropy")

__all__ = ["finite_key_entropy", "GH_NODES", "TAU_LOG_RANGE", "V_STEP", "TAU_STEP", "V_TOP"]

GH_NODES = 160          # Gauss–Hermite nodes for the lognormal transforms g₀, g₁, g₂
TAU_LOG_RANGE = (-25.0, 12.0)  # ln τ tabulated; below, the small-τ forms (error ~τ², < 1e-20)
V_STEP = 0.05           # trapezoid step in v = ln t (the integrands are smooth on scale ~1 in v)
TAU_STEP = 0.005        # table step in ln τ (linear interpolation; error ~ step²)
V_TOP = 10.0            # upper end of v: Π φ ≲ Φ(−10/λσ) for the weakest dominant key
_KEY_CHUNK = 2048


@dataclass(frozen=True)
class _Transforms:
    """ln g₀, g₁/g₀ and g₂/g₀ tabulated on a grid of ln τ (theory.entropy.FINITE_KEYS integrands)."""

    log_tau: np.ndarray
    log_g0: np.ndarray
    r1: np.ndarray
    r2: np.ndarray


_TRANSFORMS: dict = {}


def _transforms(lam: float, sigma: float) -> _Transforms:
    key = (float(lam), float(sigma))
    if key not in _TRANSFORMS:
        F = th.FINITE_KEYS
        z, w = np.polynomial.hermite_e.hermegauss(GH_NODES)
        w = w / math.sqrt(2 * math.pi)  # E over ζ ~ N(0, 1)
        lt = np.arange(TAU_LOG_RANGE[0], TAU_LOG_RANGE[1] + TAU_STEP / 2, TAU_STEP)
        tau = np.exp(lt)[:, None]
        with np.errstate(under="ignore"):
            g0 = F.function("g0_integrand")(tau, z[None, :], lam, sigma) @ w
            g1 = F.function("g1_integrand")(tau, z[None, :], lam, sigma) @ w
            g2 = F.function("g2_integrand")(tau, z[None, :], lam, sigma) @ w
        ok = g0 > 1e-290
        last = int(np.nonzero(ok)[0][-1])  # beyond it φ underflows: hold the last finite values (Π φ is 0 there)
        g0, g1, g2 = (np.where(ok, g, g[last]) for g in (g0, g1, g2))
        _TRANSFORMS[key] = _Transforms(lt, np.log(g0), g1 / g0, g2 / g0)
    return _TRANSFORMS[key]


def finite_key_entropy(bias, *, lam: float = 1.0, sigma: float = SIGMA) -> float:
    """E H of softmax(λs + b) for independent s_j ~ N(0, σ²), exactly (theory.entropy.FINITE_KEYS).

    ``bias`` is one query row's effective bias b_j (a multiplier C enters as ln|C_j|; keys with
    b = −∞ carry no weight). E H = E ln Z − E[Σu ln u/Z], both 1-D integrals over v = ln t of
    Π_j φ_j(e^v) and Σ_j ψ_j/φ_j, with φ, ψ read from the tabulated lognormal transforms; equal
    bias values are grouped, keys with τ = te^{b} below the table use the small-τ forms.
    """
    F, T = th.FINITE_KEYS, _transforms(lam, sigma)
    b = np.asarray(bias, dtype=np.float64).ravel()
    b = b[np.isfinite(b)]
    if b.size == 0:
        raise InputError("finite_key_entropy: the bias row has no finite entry (every key has zero weight)")
    ub, cnt = np.unique(b, return_counts=True)
    cnt = cnt.astype(np.float64)
    lg_small = F.function("log_g0_small")
    EZ = float(np.sum(cnt * F.function("mean_weight")(ub, lam, sigma)))  # E Z = Σ_j e^{b_j} E e^{λs}
    v = np.arange(min(0.0, -math.log(EZ)) - 20.0, V_TOP + V_STEP / 2, V_STEP)
    t = np.exp(v)
    log_p = np.zeros_like(v)
    S = np.zeros_like(v)
    lo, hi = T.log_tau[0], T.log_tau[-1]
    pop, pop_s = F.function("psi_over_phi"), F.function("psi_over_phi_small")
    far = ub + v[-1] < lo  # keys small at every t: ln g₀ is linear in τ there, so they sum to one term
    if far.any():
        log_p += lg_small(t * float(np.sum(cnt[far] * np.exp(ub[far]))), lam, sigma)
        S += float(np.sum(cnt[far] * pop_s(ub[far], lam, sigma)))
        ub, cnt = ub[~far], cnt[~far]
    for i in range(0, ub.size, _KEY_CHUNK):
        bb, cc = ub[i: i + _KEY_CHUNK][None, :], cnt[i: i + _KEY_CHUNK][None, :]
        lt = v[:, None] + bb
        small = lt < lo
        ltc = np.minimum(lt, hi)
        lg = np.where(small, lg_small(np.exp(lt), lam, sigma), np.interp(ltc, T.log_tau, T.log_g0))
        ps = np.where(small, pop_s(bb, lam, sigma) * np.ones_like(lt),
                      pop(bb, np.interp(ltc, T.log_tau, T.r1), np.interp(ltc, T.log_tau, T.r2)))
        log_p += (cc * lg).sum(1)
        S += (cc * ps).sum(1)
    with np.errstate(under="ignore"):
        P = np.exp(log_p)
    # below v[0]: the integrands are e^v(E Z − 1) and e^v S(0) to first order; their tails are FINITE_KEYS "tail"
    tail = F.function("tail")
    e_lnz = np.trapezoid(F.function("lnZ_integrand_v")(t, P), v) + tail(EZ - 1.0, v[0])
    e_ulnu = np.trapezoid(F.function("ulnu_integrand_v")(t, P, S), v) + tail(S[0], v[0])
    return float(F.predict("H", E_lnZ=e_lnz, E_ulnu=e_ulnu))
