"""Hubness probe: exact k-occurrence N_k (lists from the k-NN engine :mod:`probes.knn`), its measures and its theory.

N_k(y) = number of rankings (queries) whose k best candidates include y. Two modes:

* **self** (one set X): every point ranks all *other* points; self is excluded both as a
  query and as a neighbour, so mean N_k = k (Radovanović et al. 2010, JMLR 11, §3).
* **query→key** (queries Q, keys K): every query ranks all keys (attention: top-k logits);
  nothing is excluded; mean N_k = k·n_q/n_k.

Scores, the blocked pass, exactness and the tie rule are the engine's: see :mod:`probes.knn`.

Measures: biased k-skewness (E(N−μ)³/σ³, as ``scipy.stats.skew``), antihub occurrence
#{N = 0}/n, hub occurrence Σ_{N ≥ 2N̄} N / ΣN, Robin Hood ½Σ|N−N̄|/ΣN, Gini, and the
centrality Spearman(N_k, ‖y − ȳ‖).

Theory (``theory/hubness.py``; every number below is a registered prediction evaluated
here, the 1-D integrals by quadrature):

* ``null``: the w = 0 model, N_k ~ Bin(m, q). It depends on (m, q) only: a prediction.
* ``w`` / ``limit``: the d → ∞ limit law at a *stated* w (``probe(..., w=...)``, e.g.
  ``w_from_kurtosis`` of the distribution the points were drawn from, or ‖μ_q‖/(σ_z√d)):
  a prediction under that premise.
* ``w_plug_in_for_this_draw`` / ``limit_plug_in_for_this_draw``: the same formulas with w
  from the second and fourth moments of the very draw that was measured. Not a
  prediction: a plug-in reading of this draw (it uses its moments, not its N_k).

A non-finite number met on the way (norms, pass or float64 scores, the statistics, w, the
theory's integrals) raises :class:`probes.errors.Diverged` naming the subject: no verdict
is read from NaN/Inf.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from probes._lazy import lazy_import
from probes.dtypes import dtype_name
from probes.errors import InputError, check_finite
from probes.knn import (KNN, METRICS, Space, as_dtype, as_matrix, default_block, k_occurrence, knn, scan_topk,
                        sparse_nonzero, tile_pairs)
from probes.result import Result

th = lazy_import("theory.hubness")

__all__ = ["METRICS", "VERDICTS", "KNN", "HubnessResult", "knn", "k_occurrence", "measures",
           "limit_law", "null_law", "estimate_w", "probe", "synthetic", "hub_heavy", "load_matrix",
           "write_plot", "REDUCTIONS"]

VERDICTS = ("null-like", "hubness", "near-limit")
REDUCTIONS = ("csls", "mp")
# more than this fraction of lists with an exact tie at the k-th place: the index tie-break, not the data,
# decides part of N_k (a note says so); if as many points also duplicate another point, the verdict is
# "degenerate" (identical or lattice points: the lists, hence the hubs, are an artefact of index order)
DEGENERATE_TIES = 0.05

# the engine lives in probes.knn; the old private names stay importable from here
_Space, _pairs, _scan, _sparse_nonzero, _as_matrix, _as_dtype = Space, tile_pairs, scan_topk, sparse_nonzero, \
    as_matrix, as_dtype


# ----------------------------------------------------------------------------------
# measures
# ----------------------------------------------------------------------------------
def measures(N, *, hub_size: float = 2.0) -> dict:
    """Biased skewness, antihub/hub occurrence, Robin Hood and Gini of k-occurrences ``N``."""
    N = np.asarray(N, dtype=np.float64)
    n, mean = len(N), float(N.mean())
    dev = N - mean
    m2, m3 = float((dev**2).mean()), float((dev**3).mean())
    total = float(N.sum())
    srt = np.sort(N)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return {
        "skewness": m3 / m2**1.5 if m2 > 0 else 0.0,
        "antihub_occurrence": float((N == 0).mean()),
        "hub_occurrence": float(N[N >= hub_size * mean].sum() / total) if total else 0.0,
        "robinhood": float(np.abs(dev).sum() / (2 * total)) if total else 0.0,
        "gini": float(((2 * ranks - n - 1) * srt).sum() / (n * total)) if total else 0.0,
    }


# ----------------------------------------------------------------------------------
# theory: limit law and null model (formulas from theory/hubness.py)
# ----------------------------------------------------------------------------------
def _integrate(f, lo=-10.0, hi=10.0) -> float:
    from scipy.integrate import quad

    val, _ = quad(lambda a: float(f(a)), lo, hi, limit=400, epsabs=1e-13, epsrel=1e-10, points=[0.0])
    return val


def _centre(centre) -> tuple[float, int]:
    """(N̄, ⌊N̄⌋) for the Robin Hood integral; exact for an integer or a Fraction."""
    c = Fraction(centre) if isinstance(centre, (int, np.integer, Fraction)) else centre
    if not (c > 0 and math.isfinite(float(c))):
        raise InputError(f"centre N̄ = {centre!r}: must be a positive finite number")
    return float(c), int(math.floor(c))


def limit_law(w: float, m: int, q: float, centre=None) -> dict:
    """The d → ∞ law (theory ``hubness-limit-law``) at w: skewness, antihub, Robin Hood.

    1-D integrals over a ~ N(0, 1) of the lambdified integrands; ``centre`` (the mean
    occurrence N̄ = m·q: k in self mode, k·n_q/n_k query→key; an int or Fraction keeps ⌊N̄⌋
    exact) enables the Robin Hood integral.
    """
    P = [_integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_1", a=a, w=w, q=q)),
         _integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_2", a=a, w=w, q=q)),
         _integrate(lambda a: th.LIMIT_LAW.predict("moment_integrand_3", a=a, w=w, q=q))]
    out = {
        "w": float(w),
        "mean_p": P[0],
        "skewness": float(th.LIMIT_LAW.predict("skewness_from_moments", m=m, P1=P[0], P2=P[1], P3=P[2])),
        "antihub": _integrate(lambda a: th.LIMIT_LAW.predict("antihub_integrand", a=a, w=w, q=q, m=m)),
        "robinhood": None,
    }
    if centre is not None:
        c, kk = _centre(centre)
        f = th.LIMIT_LAW.function("robinhood_integrand")
        out["robinhood"] = _integrate(lambda a: f(a, w, q, m, c, kk))
    check_finite(f"limit law at w = {float(w):.4g}", "its integrals",
                 [v for v in out.values() if v is not None])
    return out


def null_law(m: int, q: float, centre=None) -> dict:
    """The w = 0 null (theory ``hubness-null-model``); Robin Hood via the limit law at w = 0; the
    skewness verdict threshold (twice the null skewness, → 2/√k)."""
    out = {"w": 0.0, "skewness": float(th.NULL_MODEL.predict("skewness", m=m, q=q)),
           "antihub": float(th.NULL_MODEL.predict("antihub", m=m, q=q)), "robinhood": None,
           "skewness_hub_threshold": float(th.NULL_MODEL.predict("skewness_hub_threshold", m=m, q=q))}
    if centre is not None:
        out["robinhood"] = limit_law(0.0, m, q, centre)["robinhood"]
    check_finite("null model", "its values", [v for v in out.values() if v is not None])
    return out


def estimate_w(space: Space) -> float:
    """w² = Var_y(per-key term) / Var(per-pair term) from the moments of *these* points (a plug-in
    estimate for this draw, not a prediction: theory's w is a parameter of the distribution).

    Per-key term α⟨μ_q, y⟩ − β_y, per-pair term α⟨q − μ_q, y − ȳ⟩ with variance
    α² tr(Σ_q Σ_k) (theory ``hubness-ranking-key`` / ``hubness-query-key``, ``w_from_moments``).
    """
    K, Q = space.keys64, space.queries64
    mu_q = Q.mean(0)
    c = space.alpha * (K @ mu_q) - space.beta64
    Kc, Qc = K - K.mean(0), Q - mu_q
    if space.self_mode or len(Q) + len(K) > 2 * K.shape[1]:
        Sk = Kc.T @ Kc / len(K)
        Sq = Sk if space.self_mode else Qc.T @ Qc / len(Q)
        tr = float((Sq * Sk).sum())
    else:
        tr = float(((Qc @ Kc.T) ** 2).mean())
    if tr <= 0:
        return 0.0
    return float(th.QUERY_KEY.predict("w_from_moments", offset_var=float(c.var(unbiased=False)) / space.alpha**2,
                                   trace_sq_sk=tr))


# ----------------------------------------------------------------------------------
# hubness reduction
# ----------------------------------------------------------------------------------
def _csls_bias(space: Space, base: KNN, k: int, dtype, device, block, progress, subject="keys") -> torch.Tensor:
    """CSLS (Conneau et al. 2018) generalised to the metric: rank by 2 sim(x,y) − r(y).

    r(y) = mean similarity of y to its k nearest of the other side; as a per-key term it
    adds r(y)/2 to β_y.
    """
    if space.self_mode:
        r = base.scores.mean(1)
    else:  # the same space with the roles swapped: keys rank queries
        rev = space.swapped()
        back = knn(None, None, k=min(k, len(rev.keys_x)), metric=space.metric, dtype=dtype, device=device,
                   block=block, progress=progress, _space=rev, subject=f"{subject} (queries ranked by the keys)")
        r = back.scores.mean(1)
    return r / 2


def _mp_occurrence(space: Space, k: int, dtype, device, block, progress, subject="keys") -> np.ndarray:
    """Mutual proximity, Gaussian (Schnitzer et al. 2012): rank by log P(D_x > d) + log P(D_y > d).

    d = ‖x − y‖ (euclidean), 1 − cos (cosine) or −⟨x, y⟩ (dot); μ, σ of each point's
    distances to the other side. Ranked in ``dtype`` without the float64 re-check.
    """
    dt = as_dtype(dtype)
    dev = torch.device(device)
    K = space.keys64.to(dev, dt)
    Q = K if space.self_mode else space.queries64.to(dev, dt)
    bk = space.beta64.to(dev, dt)
    bq = bk if space.self_mode else (space.queries64 ** 2).sum(1).to(dev, dt)

    def dist(G, qn, kn):
        if space.metric == "euclidean":
            return (qn.unsqueeze(1) + kn.unsqueeze(0) - 2 * G).clamp_min_(0).sqrt_()
        return (1 - G) if space.metric == "cosine" else -G

    sym = space.self_mode
    s1q = torch.zeros(len(Q), dtype=dt, device=dev); s2q = torch.zeros_like(s1q)  # noqa: E702
    s1k = torch.zeros(len(K), dtype=dt, device=dev); s2k = torch.zeros_like(s1k)  # noqa: E702
    for i0, i1, j0, j1 in tile_pairs(len(Q), len(K), block, sym):
        D = dist(Q[i0:i1] @ K[j0:j1].T, bq[i0:i1], bk[j0:j1])
        if sym and i0 == j0:
            D.diagonal().zero_()
        s1q[i0:i1] += D.sum(1); s2q[i0:i1] += (D * D).sum(1)  # noqa: E702
        if not sym or i0 != j0:
            s1k[j0:j1] += D.sum(0); s2k[j0:j1] += (D * D).sum(0)  # noqa: E702
    if sym:
        s1q, s2q = s1q + s1k, s2q + s2k
        s1k, s2k = s1q, s2q
    nq_other = len(K) - 1 if sym else len(K)
    nk_other = len(Q) - 1 if sym else len(Q)
    mu_q, mu_k = s1q / nq_other, s1k / nk_other
    sd_q = (s2q / nq_other - mu_q**2).clamp_min(1e-30).sqrt()
    sd_k = (s2k / nk_other - mu_k**2).clamp_min(1e-30).sqrt()
    check_finite(subject, f"mutual-proximity distance moments ({str(dt).replace('torch.', '')})",
                 torch.cat([mu_q, sd_q, mu_k, sd_k]), "use dtype='float64' or rescale the data")
    from torch.special import log_ndtr

    def score(G, i0, i1, j0, j1):  # rows are queries (in self mode mu_q is mu_k)
        D = dist(G, bq[i0:i1], bk[j0:j1])
        return log_ndtr(-(D - mu_q[i0:i1].unsqueeze(1)) / sd_q[i0:i1].unsqueeze(1)) + \
            log_ndtr(-(D - mu_k[j0:j1].unsqueeze(0)) / sd_k[j0:j1].unsqueeze(0))

    _, idx = scan_topk(Q, K, score, k, sym, block, progress, "mutual proximity")
    return torch.bincount(idx.flatten().cpu(), minlength=len(K)).numpy()


# ----------------------------------------------------------------------------------
# the probe
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubnessResult(Result):
    """k-occurrence statistics beside the limit law and the null model."""

    n: int
    n_queries: int
    d: int
    k: int
    metric: str
    mode: str
    skewness: float
    skewness_estimator: str
    antihub_occurrence: float
    hub_occurrence: float
    robinhood: float
    gini: float
    centrality: float
    theory: dict
    verdict: str
    reductions: dict
    histogram: tuple
    clear_rows: int
    rescored_rows: int
    fallback_rows: int
    tie_fraction: float
    duplicate_fraction: float | None
    notes: tuple
    seed: int
    dtype: str
    device: str
    seconds: float = field(default=0.0)


def _duplicate_fraction(x: torch.Tensor) -> float:
    """The fraction of rows of ``x`` that equal another row exactly."""
    _, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).double().mean())


def _verdict(rh: float, null_rh: float, lim_rh: float, w: float) -> str:
    """null-like: RH within 15% of the null's; near-limit: w ≥ 0.1 and RH ≥ 90% of the law's."""
    if rh <= 1.15 * null_rh:
        return "null-like"
    if w >= 0.1 and rh >= 0.9 * lim_rh:
        return "near-limit"
    return "hubness"


def probe(keys, queries=None, *, k: int = 10, metric: str = "euclidean", seed: int = 0,
          dtype="float32", device="cpu", block: int | None = None, reduce=(), theory: bool = True,
          w: float | None = None, progress: bool = False, subject: str = "keys", scan=None) -> HubnessResult:
    """Measure hubness of ``keys`` (self mode) or of keys ranked by ``queries``.

    ``seed`` is recorded (the probe itself is deterministic; :func:`synthetic` uses it).
    ``reduce``: any of ``"csls"``, ``"mp"``; each reports skewness/antihub/RH after.
    ``w``: the population w of the premise (e.g. theory ``w_from_kurtosis`` or ``w_isotropic``);
    with it ``theory["limit"]`` is the limit law's prediction. Without it only the plug-in law of
    this draw is reported (``limit_plug_in_for_this_draw``, see the module docstring).
    ``theory=False`` skips the plug-in w and the limit law (the null model is always computed).
    ``block``: rows per tile of the GEMM passes (memory ~ block²; default :func:`probes.knn.default_block`).

    Verdict: with ``theory``, "null-like" when Robin Hood ≤ 1.15 × the null's, "near-limit" when
    w ≥ 0.1 and Robin Hood ≥ 0.9 × the limit law's (at the stated w, else the plug-in w), else
    "hubness"; without, "hubness" when the skewness exceeds theory ``skewness_hub_threshold``
    (twice the null skewness, → 2/√k), else "null-like". Either way "degenerate" when more than
    :data:`DEGENERATE_TIES` of the lists have an exact tie at the k-th place (``tie_fraction``): the index
    tie-break, not the data, then decides N_k. ``subject`` names the data in errors. ``scan`` replaces
    the k-NN pass's block scan (:func:`probes.distributed.blocks.knn_scan`: the block pairs on a Dask
    cluster; the lists, hence N_k, are the same); the mutual-proximity reduction always runs here.
    """
    t0 = time.perf_counter()
    if metric not in METRICS:
        raise InputError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    for r in reduce:
        if r not in REDUCTIONS:
            raise InputError(f"reduce {r!r}: choose from {', '.join(REDUCTIONS)}")
    if w is not None and not (theory and math.isfinite(w) and w >= 0):
        raise InputError(f"w = {w!r}: a stated w must be finite and >= 0, and needs theory=True")
    K = as_matrix("keys", keys)
    Q = None if queries is None else as_matrix("queries", queries)
    if Q is not None and Q.shape[1] != K.shape[1]:
        raise InputError(f"queries have d = {Q.shape[1]} but keys have d = {K.shape[1]}; "
                         "both must live in the same space (project them first)")
    space = Space(K, Q, metric)
    block = default_block(device) if block is None else block
    avail = len(K) - 1 if space.self_mode else len(K)
    if isinstance(k, (int, np.integer)) and k >= 1 and k == avail:
        raise InputError(f"k = {k} = {'n − 1' if space.self_mode else 'the number of keys'}: every point is in every "
                         f"list, so N_k ≡ {k if space.self_mode else f'k·n_q/n_k'} has no spread and no skewness; "
                         + (f"use k < {avail}" if avail > 1 else "hubness needs at least 3 points"))
    base = knn(None, k=k, metric=metric, dtype=dtype, device=device, block=block, progress=progress, _space=space,
               subject=subject, scan=scan)
    N = torch.bincount(base.indices.flatten(), minlength=len(K)).numpy()
    meas = measures(N)
    from scipy.stats import spearmanr

    K64 = space.keys64
    dist_mean = (K64 - K64.mean(0)).norm(dim=1).numpy()
    del K64
    cen = float(spearmanr(N, dist_mean).statistic) if np.ptp(N) > 0 and np.ptp(dist_mean) > 0 else 0.0
    check_finite(subject, "k-occurrence statistics (skewness, antihub, hub, Robin Hood, Gini, centrality)",
                 [*meas.values(), cen])
    nq, nk = len(space.queries_x), len(K)
    m = nq - 1 if space.self_mode else nq
    q = k / (nk - 1 if space.self_mode else nk)
    centre = Fraction(k) if space.self_mode else Fraction(k * nq, nk)   # N̄ = m q
    null = null_law(m, q, centre)
    out: dict = {"m": m, "q": q, "centre": float(centre), "null": null}
    if theory:
        w_hat = estimate_w(space)
        check_finite(subject, "w from the moments of this draw", w_hat)
        out["w_plug_in_for_this_draw"] = w_hat
        out["limit_plug_in_for_this_draw"] = limit_law(w_hat, m, q, centre)
        if w is not None:
            out["w"] = float(w)
            out["limit"] = limit_law(float(w), m, q, centre)
        law, w_used = (out["limit"], float(w)) if w is not None else (out["limit_plug_in_for_this_draw"], w_hat)
        verdict = _verdict(meas["robinhood"], null["robinhood"], law["robinhood"], w_used)
    else:
        verdict = "hubness" if meas["skewness"] > null["skewness_hub_threshold"] else "null-like"
    tie_fraction = base.tied_rows / nq
    notes: list[str] = []
    dup_fraction = None
    if tie_fraction > DEGENERATE_TIES:
        dup_fraction = _duplicate_fraction(space.keys_x if metric != "cosine" else
                                           torch.nn.functional.normalize(space.keys_x.to(torch.float64), dim=1))
        notes.append(f"{tie_fraction:.1%} of the k-NN lists have an exact tie at the k-th place, broken by the lower "
                     f"index: there N_k reflects index order, not the data ({dup_fraction:.1%} of the points "
                     "duplicate another point)")
        if dup_fraction > DEGENERATE_TIES:
            verdict = "degenerate"
    reds = {}
    for r in reduce:
        if r == "csls":
            bias = _csls_bias(space, base, k, dtype, device, block, progress, subject)
            Nr = torch.bincount(knn(None, k=k, metric=metric, dtype=dtype, device=device, block=block,
                                    key_bias=bias, progress=progress, _space=space, subject=subject,
                                    scan=scan).indices.flatten(),
                                minlength=len(K)).numpy()
        else:
            Nr = _mp_occurrence(space, k, dtype, device, block, progress, subject)
        mr = measures(Nr)
        check_finite(subject, f"k-occurrence statistics after {r}", list(mr.values()))
        reds[r] = {"skewness_before": meas["skewness"], "skewness_after": mr["skewness"],
                   "antihub_after": mr["antihub_occurrence"], "robinhood_after": mr["robinhood"]}
    return HubnessResult(
        n=len(K), n_queries=nq, d=K.shape[1], k=k, metric=metric,
        mode="self" if space.self_mode else "query→key",
        skewness=meas["skewness"], skewness_estimator="biased (m3/m2^1.5, scipy.stats.skew default)",
        antihub_occurrence=meas["antihub_occurrence"], hub_occurrence=meas["hub_occurrence"],
        robinhood=meas["robinhood"], gini=meas["gini"], centrality=cen, theory=out, verdict=verdict,
        reductions=reds, histogram=tuple(int(c) for c in np.bincount(N)),
        clear_rows=base.clear_rows, rescored_rows=base.rescored_rows, fallback_rows=base.fallback_rows,
        tie_fraction=tie_fraction, duplicate_fraction=dup_fraction, notes=tuple(notes), seed=int(seed),
        dtype=dtype_name(as_dtype(dtype)), device=str(device),
        seconds=time.perf_counter() - t0)


def hub_heavy(n: int, d: int, seed: int = 0, *, clusters: int = 6, cluster_fraction: float = 0.1,
              cluster_spread=(0.3, 3e-4), norm_sigma: float = 0.4, core: int = 8, core_scale: float = 0.05,
              dtype=torch.float32, device="cpu") -> torch.Tensor:
    """An (n, d) matrix whose euclidean N_k is as skewed as trained word embeddings (skewness > 50).

    Three parts, rows shuffled: a bulk of N(0, I) directions times a log-normal norm factor
    exp(``norm_sigma``·ε) (the heavy-tailed norm spread of embedding rows); ``clusters`` dense clusters
    (``cluster_fraction`` of the rows, centres N(0, I), points centre + spread_c·bulk row, the spreads
    log-spaced over ``cluster_spread`` = (widest, densest): words with close neighbours of their own, and
    near-duplicate rows whose distances float32 cannot resolve); and ``core`` rows shrunk by ``core_scale`` towards the origin
    (rarely-updated rows near the centre, like BERT's unused tokens). The core rows are the nearest
    neighbours of most bulk rows, so they are hubs with N_k of order n; most other rows are antihubs.
    Drawn in float64 from ``seed`` (bit-identical for a seed), then cast to ``dtype`` on ``device``.
    """
    if n < core + clusters or d < 1:
        raise InputError(f"hub_heavy: n = {n}, d = {d}: need n ≥ core + clusters = {core + clusters} and d ≥ 1")
    g = torch.Generator().manual_seed(int(seed))
    f64 = torch.float64
    x = torch.randn(n, d, generator=g, dtype=f64) * torch.exp(norm_sigma * torch.randn(n, 1, generator=g, dtype=f64))
    nc = int(cluster_fraction * n)
    label = torch.randint(0, clusters, (nc,), generator=g)
    centres = torch.randn(clusters, d, generator=g, dtype=f64)
    hi, lo = cluster_spread
    spread = torch.logspace(math.log10(hi), math.log10(lo), clusters, dtype=f64)
    x[:nc] = centres[label] + spread[label].unsqueeze(1) * x[:nc]
    x[nc:nc + core] *= core_scale
    return x[torch.randperm(n, generator=g)].to(device=device, dtype=dtype)


def synthetic(distribution: str, n: int, d: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """i.i.d. coordinates: ``uniform`` [0,1], ``normal``, ``laplace``, ``rademacher`` (±1); or
    ``hub-heavy`` (:func:`hub_heavy` with its defaults: not i.i.d., skewness of N_k > 50)."""
    if distribution == "hub-heavy":
        return hub_heavy(n, d, seed, dtype=dtype)
    g = torch.Generator().manual_seed(int(seed))
    if distribution == "uniform":
        x = torch.rand(n, d, generator=g, dtype=torch.float64)
    elif distribution == "normal":
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
    elif distribution == "laplace":
        u = torch.rand(n, d, generator=g, dtype=torch.float64) - 0.5
        x = -torch.sign(u) * torch.log1p(-2 * u.abs())
    elif distribution == "rademacher":
        x = torch.randint(0, 2, (n, d), generator=g).to(torch.float64) * 2 - 1
    else:
        raise InputError(f"distribution {distribution!r}: choose uniform, normal, laplace, rademacher or hub-heavy")
    return x.to(dtype)


# ----------------------------------------------------------------------------------
# files and plot (the `attnprobe hubness` command is in probes/commands.py)
# ----------------------------------------------------------------------------------
def load_matrix(path, key: str | None = None) -> torch.Tensor:
    """A 2-D float matrix (points × dimensions) from any file :mod:`probes.arrays` reads; ``key`` picks the array."""
    from probes.arrays import load_array

    arr = load_array(path, key, ndim=2, what="matrix (points × dimensions)")
    return as_matrix(f"{path}" if key is None else f"{path}:{key}", arr)


def write_plot(result: HubnessResult, path) -> str:
    """Histogram of N_k (log count axis), titled with the skewness and antihub fraction."""
    from probes import plotting

    plt = plotting.pyplot()
    counts = np.asarray(result.histogram)
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.nonzero(counts)[0]
    ax.bar(xs, counts[xs], width=1.0, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel(f"N_{result.k} (k-occurrence)")
    ax.set_ylabel("number of points")
    ax.set_title(f"{result.metric}, n={result.n}, d={result.d}: skewness {result.skewness:.2f}, "
                 f"antihubs {result.antihub_occurrence:.3f}", fontsize=9)
    return str(plotting.save(fig, path, dpi=120))
