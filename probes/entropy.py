"""Entropy against length, and needle fading, for any attention weights function.

Probes (n = 2⁶ … 2¹⁶ keys, rows chunked so memory stays bounded, seeded):

* **P1 pure noise.** k ~ N(0, I_d), q uniform on the sphere |q| = √d, so the
  logits q·k/√d are exactly i.i.d. N(0, 1) in every row.
  H(n) of each row (of |w|/Σ|w|, so sub- or super-normalised rows and signed
  DiffAttn rows are covered), the least-squares slope b of H in ln n over
  [512, n_max], the local slope at the top, ΔH = H(n_max) − H(512), the row
  mass Σw, the largest share and the fraction of dead (all-zero) rows.
  Verdicts: ``collapsed`` (dead rows, H(n_max) < 2 or a share > ½),
  ``entropy-invariant`` (|b| ≤ 0.1, |ΔH| ≤ 0.5, local slope ≥ −0.05 and
  H(512) within 0.5 of softmax's), ``standard-like`` (0.9 ≤ b ≤ 1.1), else
  ``partially-compensated``.
* **P2 needle over a flat background.** Logits [Δ, 0, …, 0], Δ ∈ {2, 3, 5};
  p* = |w₀|/Σ|w|, fade ratio p*(n_max)/p*(512); ``no-fading`` iff the ratio at
  Δ = 3 is ≥ ½, else ``fading``.
* **P3 needle over noise.** As P1 with key 0's logit set to Δ = 3.

No verdict from non-finite numbers: NaN/Inf weights, row entropies, row masses,
shares or a non-finite slope raise :class:`probes.errors.Diverged` naming the design
and the quantity (rows that are all zero are dead rows, counted, not diverged).

Theory (``theory.entropy``, ``theory.softmax_variants``) gives each design's
row: mean-field H(n), slope and p*(n), classified by the same rules. A length
multiplier m(n) is judged by the mean field only while mσ ≤ √(ln n) over the
judged range, as ``collapsed`` when mσ ≥ √(2 ln n) throughout, and not at all
in between (the crossover; e.g. SSMax at s = 0.43). The gate: standard softmax,
on the same inputs, must match H = ln n − ½ within :data:`GATE_TOL` at every
n ≥ 512, else every P1 verdict is ``gate-failed``.

Sources: Su, kexue.fm/archives/8823 and 9034; Nakanishi 2025, arXiv 2501.19399;
Chiang & Cholak 2022, arXiv 2202.12172. A row of a causal design that sees t
keys is a row here with n = t.

Position terms: a logit bias (ALiBi's −m_h|i − j|, T5's bucketed table, URPE's
B) is added, for one query row, to the noise logits before the normaliser, and
URPE's multiplier C multiplies the weights; the row is the last position for a
causal design (distances 0..n−1) and the centre n/2 for a bidirectional one, the
head is ``--entropy-head``. Theory, under a softmax-like normaliser: any bias row
and multiplier give the mean field H(π) − σ²/2, π ∝ |C|e^{b} from the design's row
(``theory.entropy.BIASED_MEAN_FIELD``; ALiBi's closed form ``ALIBI``: H saturates
at H∞); with too few effective keys the exact finite-key expectation
(``FINITE_KEYS``, :func:`finite_key_entropy`) gives the P1 verdict instead; the
P2 needle share over any bias row is exact (``BIASED_NEEDLE``). relu² with a bias
row: its own mean field (``RELU2_BIASED``). RoPE needs nothing (a rotation of i.i.d. Gaussian q, k keeps the
logits i.i.d.); Shaw's key term depends on q and is not applied (noted).

Every number compared with a measurement is a theory prediction (``th.X.predict`` /
``th.X.function``); this module keeps only the quadratures, the grids and the array
plumbing. Values computed from the very draw that was measured are named
``..._exact_for_this_draw`` (or ``theory_at_measured_p``) and never used as theory.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from probes._lazy import lazy_import
from probes.errors import InputError, NotApplicable, check_finite
from probes.result import Result

th = lazy_import("theory.entropy")
tv = lazy_import("theory.softmax_variants")

__all__ = ["JSON_KEY", "EntropyResult", "WeightsFunction", "PositionRow", "weights_function", "with_position",
           "without_position", "from_callable", "from_normalizer", "finite_key_entropy",
           "reference", "noise_logits", "sphere_entropy_offset", "diff_noise_gain", "verdict_table",
           "probe", "gate", "classify_entropy", "classify_needle", "audit", "add_audit_arguments",
           "markdown", "write_plots", "P1_VERDICTS", "P2_VERDICTS", "GATE_TOL"]

JSON_KEY = "entropy"
P1_VERDICTS = ("entropy-invariant", "standard-like", "partially-compensated", "collapsed", "gate-failed")
P2_VERDICTS = ("fading", "no-fading")
TRAIN_N = 512
DELTAS = (2.0, 3.0, 5.0)
FADE_DELTA = 3.0
GATE_TOL = 0.05          # nats; the finite-n correction (e^{σ²}−1)/2n is < 0.002 at n ≥ 512
CHUNK_ELEMENTS = 1 << 22  # logits held at once (32 MiB in float64)
SIGMA = 1.0               # logit std of q·k/√d for |q| = √d, k ~ N(0, I_d)


# -- weights functions ---------------------------------------------------------------
@dataclass(frozen=True)
class WeightsFunction:
    """A weights function and what theory knows about it.

    ``form``: ``"logits"`` (fn(x: (rows, n)) → (rows, n)), ``"two-map"``
    (fn(x₁, x₂) → a₁ − λa₂) or ``"feature-map"`` (fn(q: (rows, d), k: (n, d))).
    ``kind`` picks the theory row: ``multiplier`` (softmax of m(n)·x; ``multiplier``
    gives m), ``sigmoid``, ``relu2``, ``clipped``, ``diff``, ``linear``, ``iid``
    (slope 1 only) or ``None`` (no theory: a user's callable).
    """

    name: str
    form: str
    fn: Callable
    kind: str | None = None
    multiplier: Callable[[np.ndarray], np.ndarray] | None = None
    params: dict = field(default_factory=dict)
    position: "PositionRow | None" = None        # the applied position term, if any
    unpositioned: "WeightsFunction | None" = None  # the same weights function without it


# Position terms the probe applies (one query row, see PositionRow) and those it does not.
APPLIED_POSITIONS = ("alibi", "t5", "urpe")
# Shaw's key term q_i·a^K_{j−i} depends on the query and its value term acts on the output,
# not the weights: it is not a bias row, so it is not applied (and the result says so).
UNAPPLIED_POSITIONS = ("shaw",)
UNIT_MULTIPLIER = ("softmax", "softmax1", "l2", "exp", "shiftssmax")  # |w|/Σ|w| is softmax's row


@dataclass(frozen=True)
class PositionRow:
    """A design's position term for one query row of head ``head``: the last position
    (``causal``: distances 0..n−1) or the centre n/2 (bidirectional)."""

    name: str
    module: nn.Module
    head: int
    causal: bool

    def query(self, n: int) -> int:
        return n - 1 if self.causal else n // 2

    def bias(self, n: int, like: torch.Tensor) -> torch.Tensor | None:
        with torch.no_grad():
            b = self.module.logit_bias_row(self.query(n), n, like)
        return None if b is None else b[self.head].to(dtype=like.dtype, device=like.device)

    def weight_multiplier(self, n: int, like: torch.Tensor) -> torch.Tensor | None:
        with torch.no_grad():
            c = self.module.weight_multiplier_row(self.query(n), n, like)
        return None if c is None else c[self.head].to(dtype=like.dtype, device=like.device)

    def slope(self) -> float | None:
        """ALiBi's m_h of this head (None for other terms)."""
        if self.name != "alibi":
            return None
        return float(self.module.slopes(torch.zeros(1, dtype=torch.float64))[self.head])

    def params(self) -> dict:
        out = {"position": self.name, "query": "last" if self.causal else "centre"}
        if self.name == "alibi":
            out["alibi_slope"] = self.slope()
        return out


def _find_position(module) -> nn.Module | None:
    """The first bias-type position module inside ``module`` (the first layer's)."""
    from probes.designs.positions import Position

    if not isinstance(module, nn.Module):
        return None
    for mod in module.modules():
        if isinstance(mod, Position) and mod.name in APPLIED_POSITIONS:
            return mod
    return None


def with_position(wf: WeightsFunction, pos_module: nn.Module, head: int = 0) -> WeightsFunction:
    """``wf`` with ``pos_module``'s bias row added to its logits (and URPE's C applied to the weights)."""
    if wf.form != "logits":
        raise NotApplicable(f"{wf.name}: position terms are applied to logits weights functions only")
    heads = getattr(pos_module, "n_heads", 1)
    if not 0 <= head < heads:
        raise InputError(f"--entropy-head {head}: the position term has {heads} heads; pick 0..{heads - 1}")
    pos = PositionRow(pos_module.name, pos_module, head, bool(pos_module.causal))
    base = wf.fn

    def fn(x, base=base, pos=pos):
        n = x.shape[-1]
        b = pos.bias(n, x)
        w = base(x if b is None else x + b)
        c = pos.weight_multiplier(n, w)
        return w if c is None else w * c

    return dataclasses.replace(wf, fn=fn, params={**wf.params, **pos.params()}, position=pos, unpositioned=wf)


def without_position(wf: WeightsFunction) -> WeightsFunction:
    """The same weights function with the position term not applied (the bias zeroed)."""
    return wf.unpositioned if wf.unpositioned is not None else wf


def _theory_multiplier(norm_name: str, norm: nn.Module | None):
    """m(n) of a softmax-with-multiplier normaliser, from theory.entropy.MULTIPLIERS."""
    M = th.MULTIPLIERS
    if norm_name in ("softmax", "softmax1", "l2", "exp", "shiftssmax"):
        return lambda nn_: np.ones_like(np.asarray(nn_, dtype=float)), {}
    if norm_name == "logn":
        return M.function("lam_su"), {"base": 512}
    if norm_name == "ssmax":
        s = float(norm.s.detach().reshape(-1)[0]) if norm is not None else 0.43
        f = M.function("lam_ssmax")
        return (lambda nn_, s=s: f(nn_, s)), {"s": s}
    return None, {}


def _slice_head(norm: nn.Module, head: int) -> nn.Module:
    """A copy of ``norm`` whose per-head parameters (leading dim = heads) keep only ``head``."""
    out = copy.deepcopy(norm)
    with torch.no_grad():
        for name, p in list(out.named_parameters(recurse=False)):
            if p.dim() >= 1 and p.shape[0] > 1:
                if head >= p.shape[0]:
                    raise InputError(f"--entropy-head {head}: the normaliser has {p.shape[0]} heads; pick 0..{p.shape[0] - 1}")
                setattr(out, name, nn.Parameter(p[head: head + 1].clone()))
    return out


def from_normalizer(norm: nn.Module, name: str, head: int = 0) -> WeightsFunction:
    norm = _slice_head(norm, head).eval()
    nname = getattr(norm, "name", type(norm).__name__)

    def fn(x, norm=norm):
        with torch.no_grad():
            w = norm(x, None)
        return w.reshape(x.shape) if w.dim() > x.dim() else w

    mult, params = _theory_multiplier(nname, norm)
    if mult is not None:
        kind = "multiplier"
    elif nname in ("sigmoid", "relu2", "clipped"):
        kind = nname
        if nname == "clipped":
            params = {"gamma": float(norm.gamma), "zeta": float(norm.zeta)}
    else:
        kind = None
    return WeightsFunction(name, "logits", fn, kind, mult, {"normaliser": nname, "head": head, **params})


def _from_diff(attn: nn.Module, name: str) -> WeightsFunction:
    """Both maps through the design's own normaliser, combined as theory's a₁ − λa₂ (DIFF "weights")."""
    lam = float(attn.lam().detach())
    sm, combine = attn.softmax, tv.DIFF.function("weights")

    def fn(x1, x2, lam=lam):
        with torch.no_grad():
            return combine(sm(x1, None), sm(x2, None), lam)

    return WeightsFunction(name, "two-map", fn, "diff", None, {"lambda": lam, "lambda_init": float(attn.lambda_init)})


def _from_linear(attn: nn.Module, name: str) -> WeightsFunction:
    """The design's feature map φ; the row a/(Σa + ε) is theory's (LINEAR "weights")."""
    phi, eps, norm = attn.phi, float(attn.eps), tv.LINEAR.function("weights")

    def fn(q, k):
        a = phi(q) @ phi(k).transpose(-1, -2)
        return norm(a, a.sum(-1, keepdim=True), eps)

    return WeightsFunction(name, "feature-map", fn, "linear", None, {"feature_map": "elu+1"})


def weights_function(subject: Any, *, head: int = 0) -> WeightsFunction:
    """The weights function of a subject: a loaded design, a zoo name, an ``nn.Module`` or a callable.

    Zoo designs give their first layer's normaliser (standard attention), the two-map
    form (diff) or the feature-map form (linear); other modules are searched for
    those building blocks; a plain callable is taken as a logits → weights function.
    """
    from probes.designs.attention import DiffAttention, LinearAttention
    from probes.designs.normalizers import Normalizer, make_normalizer

    if isinstance(subject, WeightsFunction):
        return subject
    if isinstance(subject, str):
        from probes.designs.zoo import build

        return weights_function(_Named(subject, build(subject, seed=0)), head=head)
    module = getattr(subject, "module", subject)
    name = getattr(subject, "name", type(module).__name__)
    spec = getattr(subject, "zoo_spec", None)
    heads = getattr(module, "n_heads", None)
    if head < 0 or (isinstance(heads, int) and head >= heads):
        raise InputError(f"--entropy-head {head}: design {name!r} has {heads} heads; pick 0..{(heads or 1) - 1}")
    if isinstance(module, nn.Module):
        for mod in module.modules():
            if isinstance(mod, DiffAttention):
                return _from_diff(mod, name)
            if isinstance(mod, LinearAttention):
                return _from_linear(mod, name)
            if isinstance(mod, Normalizer):
                wf = from_normalizer(mod, name, head)
                pos = _find_position(module)
                return wf if pos is None else with_position(wf, pos, head)
        if spec is not None and spec.attention == "standard":
            return from_normalizer(make_normalizer(spec.normalizer, 1), name, 0)
    if callable(subject) and not isinstance(subject, nn.Module):
        return from_callable(subject, name=getattr(subject, "__name__", "callable"))
    raise NotApplicable(f"design {name!r}: the entropy probe needs a weights function (logits → weights); "
                     "this module has no attnprobe normaliser, DiffAttention or LinearAttention inside. "
                     "Pass a callable through probes.entropy.from_callable(fn) instead.")


class _Named:
    def __init__(self, name, module):
        from probes.designs.zoo import parse

        self.name, self.module, self.zoo_spec = name, module, parse(name)


def from_callable(fn: Callable, *, name: str = "callable", form: str = "logits") -> WeightsFunction:
    """Wrap a user's function (logits (rows, n) → weights (rows, n)); judged without a theory row."""
    if form not in ("logits", "two-map", "feature-map"):
        raise InputError(f"form {form!r}: use 'logits', 'two-map' or 'feature-map'")
    if not callable(fn):
        raise InputError(f"{name}: a weights function must be callable, got {type(fn).__name__}")
    return WeightsFunction(name, form, fn, None, None, {})


def reference(name: str) -> WeightsFunction:
    """Reference multipliers that are not zoo normalisers.

    ``flat``: softmax(λ_flat(n)·x) with λ_flat from theory.entropy.FLAT, calibrated so
    that H(512) is standard softmax's (H₀ = ln 512 − ½; λ = 0 below e^{H₀}).
    ``chiang``: softmax(ln n · x) (Chiang & Cholak 2022).
    """
    if name == "flat":
        h0 = float(th.FLAT.predict("H0_calibrated", n=TRAIN_N, lam=1.0, sigma=SIGMA))
        f = th.FLAT.function("lam_flat")

        def mult(nn_, f=f, h0=h0):
            nn_ = np.asarray(nn_, dtype=float)
            return np.where(np.log(nn_) > h0, f(np.maximum(nn_, math.exp(h0)), h0, SIGMA), 0.0)
    elif name == "chiang":
        mult = th.MULTIPLIERS.function("lam_chiang")
    else:
        raise InputError(f"reference {name!r}: choose 'flat' or 'chiang'")

    def fn(x, mult=mult):
        m = float(mult(np.asarray(float(x.shape[-1]))))
        return torch.softmax(m * x, dim=-1)

    return WeightsFunction(name, "logits", fn, "multiplier", mult, {"reference": name})


# -- measurement ---------------------------------------------------------------------
def _gen(seed: int, n: int, tag: int) -> torch.Generator:
    """A CPU generator per (seed, n, probe): the same draws on every device."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + 7919 * tag + n)


def _randn(g: torch.Generator, *shape: int, dtype, device) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def _row_stats(w: torch.Tensor, needle: bool = False) -> dict[str, torch.Tensor]:
    a = w.abs()
    tot = a.sum(-1)
    alive = tot > 0
    p = a / torch.where(alive, tot, torch.ones_like(tot)).unsqueeze(-1)
    H = -torch.xlogy(p, p).sum(-1)
    out = {"H": H, "alive": alive, "mass": w.sum(-1), "maxw": p.amax(-1),
           "zero": (w == 0).to(w.dtype).mean(-1)}
    if needle:
        out["share"] = torch.where(alive, p[..., 0], torch.zeros_like(tot))
        out["raw"] = w[..., 0]
    return out


def _sphere(q: torch.Tensor) -> torch.Tensor:
    """Queries on the sphere |q| = √d, so that q·k/√d ~ N(0, 1) exactly for k ~ N(0, I) (Su's |q| = √d)."""
    return q * (math.sqrt(q.shape[-1]) / q.norm(dim=-1, keepdim=True))


def _weights_chunks(wf: WeightsFunction, n: int, rows: int, d: int, seed: int, tag: int, dtype, device,
                    needle: float | None):
    """Yield (rows_chunk, n) weights on Gaussian inputs (P1; P3 when ``needle`` is a margin)."""
    g = _gen(seed, n, tag)
    kw = dict(dtype=dtype, device=device)
    chunk = max(1, min(rows, CHUNK_ELEMENTS // n))
    if wf.form == "logits" or wf.form == "two-map":
        k = _randn(g, n, d, **kw)
        q = _sphere(_randn(g, rows, d, **kw))
        if wf.form == "two-map":
            k2, q2 = _randn(g, n, d, **kw), _sphere(_randn(g, rows, d, **kw))
        for i in range(0, rows, chunk):
            x = q[i: i + chunk] @ k.T / math.sqrt(d)
            if wf.form == "two-map":
                if needle is None:  # independent noise in the second map
                    x2 = q2[i: i + chunk] @ k2.T / math.sqrt(d)
                else:  # common mode: the same background, the needle key scored as background
                    x2 = x.clone()
                    x[:, 0] = needle
                yield wf.fn(x, x2)
            else:
                if needle is not None:
                    x[:, 0] = needle
                yield wf.fn(x)
    else:  # feature-map: the needle key k* = Δ√d q/|q|² scores exactly Δ against its own query
        k = _randn(g, n, d, **kw)
        q = _sphere(_randn(g, rows, d, **kw))
        if needle is None:
            for i in range(0, rows, chunk):
                yield wf.fn(q[i: i + chunk], k)
        else:
            for i in range(rows):  # one key set per row (rows is small for P3)
                kr = k.clone()
                kr[0] = needle * math.sqrt(d) * q[i] / (q[i] @ q[i])
                yield wf.fn(q[i: i + 1], kr)


def _needle_flat(wf: WeightsFunction, n: int, delta: float, d: int, seed: int, dtype, device) -> tuple[float, float]:
    """(share, raw weight) of key 0 with logit Δ over n − 1 zero logits."""
    if wf.form == "logits":
        x = torch.zeros(1, n, dtype=dtype, device=device)
        x[0, 0] = delta
        w = wf.fn(x)
    elif wf.form == "two-map":
        x = torch.zeros(1, n, dtype=dtype, device=device)
        x2 = x.clone()
        x[0, 0] = delta
        w = wf.fn(x, x2)
    else:  # the query on the sphere |q| = √d, as in P1 and P3 (linear-attention-needle's premise)
        q = _needle_query(d, seed, dtype, device)
        k = torch.zeros(n, d, dtype=dtype, device=device)
        k[0] = delta * math.sqrt(d) * q[0] / (q[0] @ q[0])
        w = wf.fn(q, k)
    check_finite(wf.name, f"attention weights (P2 needle, n = {n}, Δ = {delta:g})", w)
    st = _row_stats(w, needle=True)
    share, raw = float(st["share"][0]), float(st["raw"][0])
    check_finite(wf.name, f"needle share (P2, n = {n}, Δ = {delta:g})", share)
    return share, raw


def _needle_query(d: int, seed: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The P2 query of a feature-map design, (1, d), on the sphere |q| = √d."""
    return _sphere(_randn(_gen(seed, 0, 99), 1, d, dtype=dtype, device=device))


def _mean(xs: list[torch.Tensor], mask: list[torch.Tensor] | None = None) -> float:
    x = torch.cat(xs)
    if mask is not None:
        m = torch.cat(mask)
        if not bool(m.any()):
            return float("nan")
        x = x[m]
    return float(x.mean())


def _measure_noise(wf, ns, rows, d, seed, dtype, device, needle=None) -> dict[str, list[float]]:
    out = {k: [] for k in ("H", "mass", "maxw", "dead", "share", "zero")}
    for n in ns:
        acc = {k: [] for k in ("H", "alive", "mass", "maxw", "share", "zero")}
        probe_name = "P1 noise" if needle is None else f"P3 needle over noise, Δ = {needle:g}"
        for w in _weights_chunks(wf, n, rows, d, seed, 1 if needle is None else 3, dtype, device, needle):
            check_finite(wf.name, f"attention weights ({probe_name}, n = {n})", w, "try float64")
            st = _row_stats(w, needle=needle is not None)
            check_finite(wf.name, f"row entropies ({probe_name}, n = {n})", st["H"][st["alive"]])
            for k in acc:
                if k in st:
                    acc[k].append(st[k].detach())
        out["H"].append(_mean(acc["H"], acc["alive"]))
        out["mass"].append(_mean(acc["mass"]))
        out["maxw"].append(_mean(acc["maxw"], acc["alive"]))
        out["dead"].append(1.0 - _mean([a.to(torch.float64) for a in acc["alive"]]))
        out["zero"].append(_mean(acc["zero"]))
        if needle is not None:
            out["share"].append(_mean(acc["share"]))
    for k in ("mass", "dead", "zero") + (("share",) if needle is not None else ()):
        check_finite(wf.name, f"{k} by n ({'P1' if needle is None else 'P3'})", out[k])
    return out


def noise_logits(n: int, rows: int, *, d: int = 64, seed: int = 0, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The P1 logits, (rows, n), i.i.d. N(0, 1): q on the sphere |q| = √d, k ~ N(0, I_d), q·k/√d."""
    g = _gen(seed, n, 1)
    k = _randn(g, n, d, dtype=dtype, device=device)
    q = _sphere(_randn(g, rows, d, dtype=dtype, device=device))
    return q @ k.T / math.sqrt(d)


def sphere_entropy_offset(lam: float, d: int, grid: int = 400_001) -> float:
    """(H − ln n)/d in Su's large-n regime, by quadrature over c = cos(q, k) (theory.entropy.SU_LAPLACE).

    The exact density of c for k uniform on the sphere S^{d−1} is ∝ (1 − c²)^{(d−3)/2}
    (prediction ``sphere_log_density``; Su's (1 − c²)^{d/2} is its large-d limit per
    dimension), the tilted weight is e^{λdc} times it (``sphere_log_tilted``), and the
    offset (ln E e^{λdc} − λd E_tilt c)/d is ``sphere_offset``; only the quadrature on a
    grid in log space is done here. SU_LAPLACE says it tends to −½ ln φ at λ = 1 as d → ∞.
    """
    from scipy.special import logsumexp

    if d < 4 or lam <= 0:
        raise InputError(f"lam={lam}, d={d}: need lam > 0 and d ≥ 4")
    S = th.SU_LAPLACE
    c = np.linspace(-1.0, 1.0, grid)[1:-1]
    log_w = S.function("sphere_log_density")(c, d)
    a = S.function("sphere_log_tilted")(c, lam, d)
    ln_mean = logsumexp(a) - logsumexp(log_w)
    t = np.exp(a - a.max())
    tilted = float((t * c).sum() / t.sum())
    return float(S.predict("sphere_offset", lnM=ln_mean, T_c=tilted, lam=lam, d=d))


def diff_noise_gain(lam: float, n: int, *, rows: int = 64, delta: float = FADE_DELTA, common_mode: bool = True,
                    d: int = 64, seed: int = 0, dtype=torch.float64, device="cpu") -> dict:
    """Signal-to-noise gain of a₁ − λa₂ over a₁ alone, for a needle over N(0, 1) noise (Ye et al. 2024).

    Map 1 sees the noise with key 0 set to Δ; map 2 sees the same noise (``common_mode``)
    or an independent draw; the maps are softmax rows combined by theory's a₁ − λa₂
    (theory.softmax_variants.DIFF "weights"). With unit i.i.d. values the noise of a map w is
    √(Σ_{j≠0} w_j²), the signal w₀. Returns the mean measured gain; ``theory``: DIFF
    "gain_noise" (1 − p*)/|1 − p* − λ|·|1 − λe^{σ²/2−Δ}/(1 − p*)| at the mean-field p*
    (theory.entropy.NEEDLE "p_noise"), and the same without the signal-loss factor; and,
    for comparison only, ``theory_at_measured_p``: gain_noise averaged over the measured
    per-row p* of this draw (a conditional value, not a prediction).
    """
    x = noise_logits(n, rows, d=d, seed=seed, dtype=dtype, device=device)
    x2 = x.clone() if common_mode else noise_logits(n, rows, d=d, seed=seed + 7777, dtype=dtype, device=device)
    x[:, 0] = delta
    a1, a2 = torch.softmax(x, -1), torch.softmax(x2, -1)
    w = tv.DIFF.function("weights")(a1, a2, lam)
    design = f"diff (λ = {lam:g})"
    check_finite(design, f"attention weights (n = {n})", w)

    def snr(m):
        return m[:, 0] / m[:, 1:].pow(2).sum(-1).sqrt()

    gain = (snr(w) / snr(a1)).abs()
    check_finite(design, f"SNR gain (n = {n})", gain)
    p = a1[:, 0].cpu().numpy()
    p_mf = float(th.NEEDLE.predict("p_noise", n=n, Delta=delta, m=1.0, sigma=SIGMA))
    G = tv.DIFF.function("gain_noise")
    return {"gain": float(gain.mean()), "theory": float(G(p_mf, lam, delta, SIGMA)),
            "theory_without_signal_loss": float(tv.DIFF.function("gain")(p_mf, lam)),
            "theory_at_measured_p": float(np.mean(G(p, lam, delta, SIGMA))), "p_star": float(p.mean()),
            "p_star_theory": p_mf, "n": n, "lam": lam, "common_mode": common_mode}


# -- verdicts -----------------------------------------------------------------------
def _fit(ns, H):
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
    b, local, dH, h512, htop = _fit(ns, H)
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


# -- finite-key theory -----------------------------------------------------------------
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


# -- theory rows ---------------------------------------------------------------------
def theory_row(wf: WeightsFunction, ns, *, d: int = 64, seed: int = 0) -> dict:
    """The theory's H(n), p*(n) at Δ = 3 and verdicts for ``wf`` (``kind`` None: empty row)."""
    nsf = np.asarray(ns, dtype=float)
    row: dict[str, Any] = {"kind": wf.kind, "entropy_by_n": None, "needle_by_n": None, "verdict": None,
                           "needle_verdict": None, "slope": None, "note": ""}
    if wf.kind is None:
        row["note"] = "no theory for a user's function: verdicts are measured only"
        return row
    D = FADE_DELTA
    if wf.position is not None and wf.position.slope() == 0.0:  # ALiBi at m = 0: the m → 0 limit, plain softmax
        row = theory_row(wf.unpositioned, ns, d=d, seed=seed)
        row["note"] += "; ALiBi slope 0: the m → 0 limit of entropy-alibi-saturation (checked) is this row"
        return row
    if wf.position is not None:
        _positioned_theory(wf, ns, row)
    elif wf.kind == "multiplier":
        m = np.asarray(wf.multiplier(nsf), dtype=float) * np.ones_like(nsf)
        H = th.MEAN_FIELD.function("H")(nsf, m, SIGMA)
        judged = nsf >= TRAIN_N
        frozen = m * SIGMA >= th.FREEZING.function("lam_freeze")(nsf, SIGMA)
        valid = m * SIGMA <= th.FREEZING.function("lam_valid")(nsf, SIGMA)
        p = th.NEEDLE.function("p_flat")(nsf, D, m)
        row.update(entropy_by_n=H, needle_by_n=p, frozen_from_n=(int(nsf[frozen][0]) if frozen.any() else None),
                   note="mean field ln n − m(n)²σ²/2, valid while m σ ≤ √(ln n); frozen where m σ ≥ √(2 ln n)")
        if frozen[judged].all():
            row["verdict"] = "collapsed"
        elif valid[judged].all():
            row["verdict"] = classify_entropy(ns, H)
        else:
            row["verdict"] = None
            row["note"] += ("; this multiplier sits between the validity and freezing lines over the judged "
                            "range (crossover): the theory gives no P1 verdict")
    elif wf.kind == "sigmoid":
        H = th.MEAN_FIELD.function("H")(nsf, 1.0, SIGMA)
        p = tv.SIGMOID.function("share")(nsf, D)
        row.update(entropy_by_n=H, needle_by_n=p, verdict=classify_entropy(ns, H),
                   note="n·σ(x − ln n) → e^x: softmax's mean field")
    elif wf.kind == "relu2":
        H = tv.RELU2.function("H")(nsf) * np.ones_like(nsf)
        p = tv.RELU2.function("needle_share_flat")(nsf, D) * np.ones_like(nsf)  # Δ² over n − 1 zero weights
        row.update(entropy_by_n=H, needle_by_n=p, verdict=classify_entropy(ns, H),
                   note="ln n − (2 − γ); a zero background gets no weight, so p* = 1 on P2")
    elif wf.kind == "clipped":
        g, z = wf.params["gamma"], wf.params["zeta"]
        zf = tv.CLIPPED.function("zero_fraction")(nsf, g, z, SIGMA)
        alive_keys = tv.CLIPPED.function("alive_keys")(nsf, g, z, SIGMA)
        a = tv.CLIPPED.function("needle_weight")(nsf, D, g, z)
        b = tv.CLIPPED.function("background_weight")(nsf, D, g, z)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where the whole row is clipped away
            p = np.where(np.asarray(a) > 0, th.NEEDLE.function("share")(nsf, a, b), 0.0)
        row.update(needle_by_n=p, zero_fraction_by_n=zf, note="zero fraction Φ((ln(n a) + σ²/2)/σ) → 1")
        row["verdict"] = "collapsed" if alive_keys[-1] < 1.0 else "standard-like"
    elif wf.kind == "diff":
        lam = wf.params["lambda"]
        p = tv.DIFF.function("needle_share_flat")(nsf, D, lam)
        row.update(needle_by_n=p, slope=1.0, verdict="standard-like",
                   note="i.i.d. key weights (entropy-iid-weights): slope 1; needle share common-mode closed form")
    elif wf.kind == "linear":
        LIN = tv.LINEAR
        p_hi, p_lo = LIN.function("share_max")(nsf, D), LIN.function("share_min")(nsf, D)
        # the share for this very query (the measured draw's q): exact for this draw, not a prediction
        from probes.designs.attention import LinearAttention

        q = _needle_query(d, seed)
        kstar = D * math.sqrt(d) * q[0] / (q[0] @ q[0])
        phi_q = LinearAttention.phi(q[0])
        r = float(phi_q @ LinearAttention.phi(kstar)) / float(phi_q @ LinearAttention.phi(torch.zeros_like(q[0])))
        row.update(needle_by_n=p_hi, needle_lower_by_n=[float(v) for v in p_lo], slope=1.0, verdict="standard-like",
                   needle_exact_for_this_draw_by_n=[float(v) for v in LIN.function("share")(nsf, r)],
                   note="positive feature map: i.i.d. key weights, slope 1; needle share r/(r + n − 1) with "
                        "r ∈ [e^{−Δ}, 1 + Δ] for every query on the sphere (linear-attention-needle): theory curve = "
                        "the upper bound (1 + Δ)/(Δ + n); the fade ratio grows with r, so the bound's verdict holds "
                        "for every query")
    else:
        row.update(slope=1.0, verdict="standard-like", note="i.i.d. key weights: slope 1")
    if row["entropy_by_n"] is not None:
        row["slope"] = _fit(ns, row["entropy_by_n"])[0]
        row["entropy_by_n"] = [float(v) for v in np.asarray(row["entropy_by_n"], dtype=float)]
    if row["needle_by_n"] is not None:
        pn = [float(v) for v in np.asarray(row["needle_by_n"], dtype=float) * np.ones_like(nsf)]
        row["needle_by_n"] = pn
        row["needle_verdict"], row["fade_ratio"] = classify_needle(ns, pn)
        if row.get("needle_lower_by_n") is not None and classify_needle(ns, row["needle_lower_by_n"])[0] != \
                row["needle_verdict"]:  # the bounds bracket the threshold: no verdict for every query
            row["needle_verdict"] = None
            row["note"] += "; the lower and upper bounds give different P2 verdicts: no theory verdict"
    for k in ("zero_fraction_by_n",):
        if k in row:
            row[k] = [float(v) for v in np.asarray(row[k], dtype=float)]
    return row


def _bias_row(pos: PositionRow, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, |C|) of one query row, float64 (zeros / ones where the term has no bias / multiplier)."""
    like = torch.zeros(1, dtype=torch.float64)
    b, c = pos.bias(n, like), pos.weight_multiplier(n, like)
    b = np.zeros(n) if b is None else b.cpu().numpy().astype(np.float64)
    c = np.ones(n) if c is None else c.abs().cpu().numpy().astype(np.float64)
    return b, c


def _effective_bias(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """b + ln|C| (entropy-biased-mean-field "effective_bias": a multiplier is a bias in |w|/Σ|w|); −∞ where C = 0."""
    with np.errstate(divide="ignore"):
        return np.asarray(th.BIASED_MEAN_FIELD.function("effective_bias")(b, np.abs(c)), dtype=np.float64)


def _row_entropy_terms(beff: np.ndarray) -> tuple[float, float]:
    """(H(π), Σπ²) of π ∝ e^{b_eff}."""
    pi = np.exp(beff - np.max(beff))
    pi /= pi.sum()
    nz = pi[pi > 0]
    return float(-(nz * np.log(nz)).sum()), float((pi * pi).sum())


def _relu2_biased_mean_field(bc: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """(H, correction scale) of relu(s + b)²·|C| weights, s ~ N(0, 1) (theory.entropy.RELU2_BIASED).

    Equal bias values are grouped; E[u ln u] is a 1-D quadrature of the lambdified integrand;
    a multiplier C scales u (predictions ``Eu_scaled``, ``Eulnu_scaled``, ``Var_scaled``).
    """
    from scipy.integrate import quad

    R = th.RELU2_BIASED
    b, c = bc
    keys, inv = np.unique(np.stack([b, c]), axis=1, return_inverse=True)
    cnt = np.bincount(inv.ravel(), minlength=keys.shape[1]).astype(np.float64)
    ub, uc = keys
    f = R.function("ulnu_integrand")
    eu = R.function("Eu")(ub)
    eulnu = np.array([quad(lambda y, bb=bb: f(y, bb), 0.0, np.inf, epsabs=1e-12)[0] for bb in ub])
    live = uc > 0  # keys with C = 0 carry no weight
    cnt, ub, uc, eu, eulnu = cnt[live], ub[live], uc[live], eu[live], eulnu[live]
    s_eu = float(np.sum(cnt * R.function("Eu_scaled")(uc, eu)))
    s_eulnu = float(np.sum(cnt * R.function("Eulnu_scaled")(uc, eulnu, eu)))
    s_var = float(np.sum(cnt * R.function("Var_scaled")(uc, R.function("Eu2")(ub), eu)))
    return (float(R.predict("H", SumEu=s_eu, SumEulnu=s_eulnu)),
            float(R.predict("correction", SumVar=s_var, SumEu=s_eu)))


def _positioned_theory(wf: WeightsFunction, ns, row: dict) -> None:
    """Theory for a design with an applied position term (fills ``row``).

    P1, softmax-like normalisers, any bias row b and multiplier C: the mean field
    H = H(π) − λ²σ²/2 with π ∝ |C|e^{b} from the design's own row at each n
    (theory.entropy.BIASED_MEAN_FIELD; for ALiBi the closed forms of theory.entropy.ALIBI) while
    its correction scale (e^{λ²σ²} − 1)Σπ²/2 ≤ GATE_TOL over the judged range; beyond that, the
    exact expectation for independent keys (theory.entropy.FINITE_KEYS) supplies the verdict. relu²:
    its biased mean field (theory.entropy.RELU2_BIASED) while Var Z/2(E Z)² ≤ GATE_TOL. Other
    normalisers: no P1 verdict. P2: exact share of key 0 over the design's own bias row
    (theory.entropy.BIASED_NEEDLE), for elementwise weights e^x (softmax-like) or relu(x)² (relu2).
    """
    pos, D = wf.position, FADE_DELTA
    nsf = np.asarray(ns, dtype=float)
    softmax_like = wf.kind == "multiplier" and wf.params.get("normaliser") in UNIT_MULTIPLIER
    share = th.BIASED_NEEDLE.function("share")
    notes = []
    if softmax_like:
        BM = th.BIASED_MEAN_FIELD
        h_mf, corr_n, h_fk = [], [], []
        for n in ns:
            beff = _effective_bias(*_bias_row(pos, n))
            h_pi, s_pi2 = _row_entropy_terms(beff)
            h_mf.append(float(BM.predict("H", H_pi=h_pi, lam=1.0, sigma=SIGMA)))
            corr_n.append(float(BM.predict("correction", S_pi2=s_pi2, lam=1.0, sigma=SIGMA)))
            h_fk.append(finite_key_entropy(beff, lam=1.0, sigma=SIGMA))
        judged = nsf >= TRAIN_N
        corr = float(np.max(np.asarray(corr_n)[judged]))
        mf_err = float(np.max(np.abs(np.asarray(h_fk) - np.asarray(h_mf))[judged]))  # against the exact expectation
        valid = corr <= GATE_TOL and mf_err <= GATE_TOL
        where = "last" if pos.causal else "centre"
        row.update(mean_field_correction=corr, mean_field_error=mf_err, entropy_mean_field_by_n=h_mf,
                   entropy_finite_keys_by_n=h_fk)
        if pos.name == "alibi":
            m = pos.slope()
            which = "" if pos.causal else "_centre"
            H_alibi = th.ALIBI.function("H" + which)(nsf, m, 1.0, SIGMA)
            row.update(entropy_mean_field_by_n=[float(v) for v in H_alibi],
                       H_inf=float(th.ALIBI.function("H_inf" + which)(m, 1.0, SIGMA)), alibi_slope=m)
            notes.append(f"ALiBi mean field (entropy-alibi-saturation), {where} query, m = {m:.4g}: H saturates at "
                         f"H∞ = {row['H_inf']:.4f}")
        else:
            notes.append(f"{pos.name} bias row{' and multiplier C' if pos.name == 'urpe' else ''}, {where} query: "
                         "mean field H(π) − σ²/2 with π from the design's own row at each n "
                         "(entropy-biased-mean-field)")
        if valid:
            row.update(entropy_by_n=row["entropy_mean_field_by_n"], p1_theory="mean field")
            row["verdict"] = classify_entropy(ns, row["entropy_by_n"])
            notes.append(f"P1 verdict from the mean field (correction scale (e^{{σ²}} − 1)Σπ²/2 = {corr:.3g} and "
                         f"distance to the exact finite-key expectation {mf_err:.3g}, both ≤ {GATE_TOL} nats)")
        else:
            row.update(entropy_by_n=h_fk, p1_theory="finite keys")
            row["verdict"] = classify_entropy(ns, h_fk)
            notes.append(f"too few effective keys for the mean field (correction scale (e^{{σ²}} − 1)Σπ²/2 = "
                         f"{corr:.3g}, distance to the exact finite-key expectation {mf_err:.3g}; the gate allows "
                         f"{GATE_TOL} nats), so the P1 verdict comes from the exact expectation for independent keys "
                         "(entropy-finite-keys)")
    elif wf.kind == "relu2":
        h_mf, corr_n = [], []
        for n in ns:
            h, corr = _relu2_biased_mean_field(_bias_row(pos, n))
            h_mf.append(h)
            corr_n.append(corr)
        corr = float(np.max(np.asarray(corr_n)[nsf >= TRAIN_N]))
        row.update(entropy_mean_field_by_n=h_mf, mean_field_correction=corr)
        notes.append(f"relu² over the {pos.name} bias row: mean field ln Σ E u − Σ E[u ln u]/Σ E u "
                     "(entropy-relu2-biased-mean-field)")
        if corr <= GATE_TOL:
            row.update(entropy_by_n=h_mf, p1_theory="mean field", verdict=classify_entropy(ns, h_mf))
            notes.append(f"P1 verdict from the mean field (correction scale Var Z/2(E Z)² = {corr:.3g} ≤ {GATE_TOL})")
        else:
            notes.append(f"the mean field's correction scale Var Z/2(E Z)² = {corr:.3g} exceeds {GATE_TOL}: no P1 "
                         "verdict (no finite-key theory for relu²)")
    else:
        notes.append(f"no closed-form H(n) for position term {pos.name!r} under this normaliser: theory gives "
                     "no P1 verdict")
    if pos.name == "alibi" and softmax_like:
        m = pos.slope()
        d0 = np.asarray([pos.query(n) for n in ns], dtype=float)  # key 0's distance from the query
        with np.errstate(under="ignore"):
            row["needle_by_n"] = th.BIASED_NEEDLE.function("share_alibi" if pos.causal else "share_alibi_centre")(
                nsf, m, D, d0)
        notes.append("P2: exact needle share e^{Δ−mδ₀}/(Z + (e^Δ − 1)e^{−mδ₀}) (entropy-needle-biased)")
    else:
        u = (th.BIASED_NEEDLE.function("u_exp") if softmax_like
             else tv.RELU2.function("u") if wf.kind == "relu2" else None)
        if u is not None:
            p = []
            for n in ns:
                b, c = _bias_row(pos, n)
                ub = u(b) * c
                a, a0, S = float(u(D + b[0]) * c[0]), float(ub[0]), float(ub.sum())
                p.append(float(share(a, a0, S)) if S - a0 + a > 0 else 0.0)
            row["needle_by_n"] = p
            notes.append("P2: exact needle share over the design's own bias row (entropy-needle-biased)")
    row["note"] = "; ".join(notes)


# -- result and probe ----------------------------------------------------------------
@dataclass(frozen=True)
class EntropyResult(Result):
    design: str
    form: str
    verdict: str
    needle_verdict: str
    matches_theory: bool | None
    slope: float
    local_slope: float
    delta_H: float
    ns: tuple
    entropy_by_n: dict
    row_mass_by_n: dict
    max_weight_by_n: dict
    dead_rows_by_n: dict
    zero_fraction_by_n: dict
    needle_by_n: dict
    fade_ratio: dict
    needle_noise_by_n: dict
    noise_fade_ratio: float
    theory: dict
    gate: dict
    params: dict
    rows: int
    d: int
    seed: int
    dtype: str
    device: str
    notes: tuple = ()


# Position terms that change the logits' distribution over keys (a distance bias, a
# Toeplitz multiplier). The probe feeds the normaliser i.i.d. logits and does not apply
# them, so for such designs the verdict describes the normaliser alone. RoPE is not
# listed: a rotation of i.i.d. Gaussian q, k leaves the logits i.i.d. Gaussian.
def _unapplied_position_notes(subject, wf: WeightsFunction) -> tuple:
    """Notes for position terms present in ``subject`` but not applied by ``wf``."""
    from probes.designs.positions import Position

    names = set()
    spec = getattr(subject, "zoo_spec", None)
    if isinstance(subject, str):
        from probes.designs.zoo import parse

        spec = parse(subject)
    if spec is not None and spec.position in APPLIED_POSITIONS + UNAPPLIED_POSITIONS:
        names.add(spec.position)
    module = getattr(subject, "module", subject)
    if isinstance(module, torch.nn.Module):
        names.update(m.name for m in module.modules()
                     if isinstance(m, Position) and m.name in APPLIED_POSITIONS + UNAPPLIED_POSITIONS)
    if wf.position is not None:
        names.discard(wf.position.name)
    why = {"shaw": "its key term q·a^K_{j−i} depends on the query and its value term acts on the output, so it "
                   "is no bias row",
           "alibi": "it is applied to logits weights functions only", "t5": "it is applied to logits weights "
           "functions only", "urpe": "it is applied to logits weights functions only"}
    return tuple(f"position term {n!r} is not applied ({why[n]}): these verdicts describe the normaliser alone"
                 for n in sorted(names))


_GATE_CACHE: dict = {}


def gate(ns, *, rows: int, d: int, seed: int, dtype, device) -> dict:
    """Standard softmax against the mean field ln n − σ²/2 on the probe's own inputs."""
    key = (tuple(ns), rows, d, seed, str(dtype), str(device))
    if key not in _GATE_CACHE:
        from probes.designs.normalizers import Softmax

        wf = from_normalizer(Softmax(), "softmax")
        meas = _measure_noise(wf, ns, rows, d, seed, dtype, device)
        pred = th.MEAN_FIELD.function("H")(np.asarray(ns, dtype=float), 1.0, SIGMA)
        err = [abs(h - p) for n, h, p in zip(ns, meas["H"], pred) if n >= TRAIN_N]
        worst = max(err) if err else float("nan")
        _GATE_CACHE[key] = {"passed": bool(math.isfinite(worst) and worst <= GATE_TOL),
                            "max_abs_error": worst, "tol": GATE_TOL,
                            "softmax_entropy_by_n": {str(n): h for n, h in zip(ns, meas["H"])}}
    return _GATE_CACHE[key]


def _ns(n_min: int, n_max: int) -> tuple[int, ...]:
    for name, v in (("n_min", n_min), ("n_max", n_max)):
        if v < 2 or v & (v - 1):
            raise InputError(f"{name}={v}: use a power of two ≥ 2")
    if not n_min <= TRAIN_N < n_max:
        raise InputError(f"n range [{n_min}, {n_max}] must contain the training length {TRAIN_N} and go beyond it")
    return tuple(2**k for k in range(int(math.log2(n_min)), int(math.log2(n_max)) + 1))


def _zoo_with_longer_tables(subject, n_max: int):
    """A zoo design (a name, or a :class:`Subject` of kind "zoo") rebuilt with position tables reaching
    ``n_max`` and the parameters drawn from the same seed; None for anything else (a user's module
    is never rebuilt: its too-short tables are reported instead)."""
    from probes.designs.zoo import build

    if isinstance(subject, str):
        return _Named(subject, build(subject, seed=0, max_len=n_max))
    if getattr(subject, "kind", None) == "zoo" and not getattr(subject, "trained", False):
        module = subject.module
        p = next(module.parameters(), None)
        dtype = p.dtype if p is not None else torch.float64
        seed = subject.seed if subject.randomized else None
        return _Named(subject.name, build(subject.name, d_model=subject.d_model, n_heads=module.n_heads,
                                          n_layers=module.n_layers, seed=seed, dtype=dtype, max_len=n_max))
    return None


def probe(subject, *, seed: int = 0, dtype=torch.float64, device="cpu", rows: int = 512, d: int = 64,
          n_min: int = 64, n_max: int = 1 << 16, needle_rows: int | None = None, head: int = 0,
          noise_needle: bool = True) -> EntropyResult:
    """Run P1-P3 on ``subject`` (see :func:`weights_function`) and judge it against its theory row."""
    if rows < 1 or d < 1:
        raise InputError(f"rows={rows}, d={d}: both must be positive")
    wf = weights_function(subject, head=head)
    ns = _ns(n_min, n_max)
    notes = []
    lim = getattr(wf.position.module, "row_max_len", None) if wf.position is not None else None
    longer = _zoo_with_longer_tables(subject, ns[-1]) if lim is not None and lim < ns[-1] else None
    if longer is not None:
        wf = weights_function(longer, head=head)
        notes.append(f"zoo design rebuilt with max_len = {ns[-1]} (its {wf.position.name!r} tables had max_len = "
                     f"{lim}), parameters drawn from the same seed, so the position term acts at every n probed")
        lim = None
    if lim is not None and lim < ns[-1]:
        notes.append(f"position term {wf.position.name!r} is not applied: its tables cover |i − j| < max_len = "
                     f"{lim} and the design refuses longer inputs, so it cannot act at n up to {ns[-1]} "
                     f"(build the design with max_len ≥ {ns[-1]}); these verdicts describe the normaliser alone")
        wf = without_position(wf)
    notes = tuple(notes) + _unapplied_position_notes(subject, wf)
    key = lambda vals: {str(n): float(v) for n, v in zip(ns, vals)}  # noqa: E731
    g = gate(ns, rows=rows, d=d, seed=seed, dtype=dtype, device=device)
    with torch.no_grad():
        p1 = _measure_noise(wf, ns, rows, d, seed, dtype, device)
        flat = {D: [_needle_flat(wf, n, D, d, seed, dtype, device) for n in ns] for D in DELTAS}
        nr = needle_rows or (8 if wf.form == "feature-map" else min(rows, 128))
        p3 = (_measure_noise(wf, ns, nr, d, seed, dtype, device, needle=FADE_DELTA) if noise_needle
              else {"share": [float("nan")] * len(ns)})
    b, local, dH, _, _ = _fit(ns, p1["H"])
    if not p1["dead"][-1] > 0.5:  # a row of zeros has no entropy; mostly dead rows are "collapsed" (a finite reason)
        check_finite(wf.name, f"entropy H(n) (P1, n ≥ {TRAIN_N})", [h for n, h in zip(ns, p1["H"]) if n >= TRAIN_N],
                     "every row was all-zero at that n" if any(not math.isfinite(h) for h in p1["H"]) else "")
        check_finite(wf.name, "entropy slope, local slope and ΔH (P1)", [b, local, dH])
    verdict = (classify_entropy(ns, p1["H"], max_weight=p1["maxw"][-1], dead=p1["dead"][-1])
               if g["passed"] else "gate-failed")
    shares = {D: [s for s, _ in v] for D, v in flat.items()}
    nv, _ = classify_needle(ns, shares[FADE_DELTA])
    fades = {str(D): classify_needle(ns, shares[D])[1] for D in DELTAS}
    th_row = theory_row(wf, ns, d=d, seed=seed)
    pairs = [(t, v) for t, v in ((th_row["verdict"], verdict), (th_row["needle_verdict"], nv)) if t is not None]
    matches = None if not pairs else all(t == v for t, v in pairs)
    i512 = ns.index(TRAIN_N)
    noise_ratio = (p3["share"][-1] / p3["share"][i512] if p3["share"][i512] > 0
                   else (0.0 if p3["share"][i512] == 0 else float("nan")))
    return EntropyResult(
        design=wf.name, form=wf.form, verdict=verdict, needle_verdict=nv, matches_theory=matches,
        slope=b, local_slope=local, delta_H=dH, ns=ns,
        entropy_by_n=key(p1["H"]), row_mass_by_n=key(p1["mass"]), max_weight_by_n=key(p1["maxw"]),
        dead_rows_by_n=key(p1["dead"]), zero_fraction_by_n=key(p1["zero"]),
        needle_by_n={str(D): key(v) for D, v in shares.items()}, fade_ratio=fades,
        needle_noise_by_n=key(p3["share"]), noise_fade_ratio=float(noise_ratio),
        theory=th_row, gate=g, params=dict(wf.params), rows=rows, d=d, seed=seed,
        dtype=str(dtype).replace("torch.", ""), device=str(device), notes=notes)


# -- CLI -------------------------------------------------------------------------------
def add_audit_arguments(parser) -> None:
    grp = parser.add_argument_group("entropy probe")
    grp.add_argument("--entropy-rows", type=int, default=512, help="query rows per length (default 512)")
    grp.add_argument("--entropy-d", type=int, default=64, help="q, k width for the noise probes (default 64)")
    grp.add_argument("--entropy-max-log2n", type=int, default=16, help="longest length 2^k (default 16)")
    grp.add_argument("--entropy-head", type=int, default=0, help="head whose normaliser is probed (default 0)")
    from probes import module_entropy  # user modules and Hugging Face models: measured through their own forward

    module_entropy.add_audit_arguments(parser)


def audit(subject, *, seed: int, dtype, device, options: dict | None = None) -> EntropyResult:
    o = options or {}
    if getattr(subject, "kind", "zoo") != "zoo":  # a user's module or a Hugging Face model: its own attention
        from probes import module_entropy

        return module_entropy.audit(subject, seed=seed, dtype=dtype, device=device, options=o)
    return probe(subject, seed=seed, dtype=dtype, device=device, rows=int(o.get("entropy_rows") or 512),
                 d=int(o.get("entropy_d") or 64), n_max=1 << int(o.get("entropy_max_log2n") or 16),
                 head=int(o.get("entropy_head") or 0))


def markdown(result: EntropyResult) -> str:
    if getattr(result, "measured_on", None) == "module":
        from probes import module_entropy

        return module_entropy.markdown(result)
    th_row = result.theory
    lines = [f"**Entropy (P1):** `{result.verdict}` (theory: `{th_row.get('verdict')}`), slope {result.slope:.3f}, "
             f"ΔH from {TRAIN_N} = {result.delta_H:.3f}. **Needle (P2, Δ = {FADE_DELTA:g}):** "
             f"`{result.needle_verdict}` (theory: `{th_row.get('needle_verdict')}`), fade ratio "
             f"{result.fade_ratio[str(FADE_DELTA)]:.3g}. Gate (softmax vs mean field): "
             f"{'passed' if result.gate['passed'] else 'FAILED'} (max error {result.gate['max_abs_error']:.3g}).", "",
             *[f"Note: {n}." for n in result.notes], *([""] if result.notes else []),
             "| n | H | H theory | row mass | max share | p* (Δ=3) | p* theory |", "|---|---|---|---|---|---|---|"]
    the = th_row.get("entropy_by_n") or [float("nan")] * len(result.ns)
    thp = th_row.get("needle_by_n") or [float("nan")] * len(result.ns)
    for i, n in enumerate(result.ns):
        k = str(n)
        lines.append(f"| {n} | {result.entropy_by_n[k]:.4g} | {the[i]:.4g} | {result.row_mass_by_n[k]:.4g} | "
                     f"{result.max_weight_by_n[k]:.3g} | {result.needle_by_n[str(FADE_DELTA)][k]:.3g} | {thp[i]:.3g} |")
    return "\n".join(lines)


def write_plots(result: EntropyResult, out_dir) -> list[str]:
    """entropy_vs_n.png (H(n) with the theory curve) and needle_vs_n.png (p*(n) with theory)."""
    if getattr(result, "measured_on", None) == "module":
        from probes import module_entropy

        return module_entropy.write_plots(result, out_dir)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ns = np.asarray(result.ns, dtype=float)
    paths = []

    def save(fig, ax, name):
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(str(out / name))

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(ns, [result.entropy_by_n[str(int(n))] for n in ns], "o-", label=f"{result.design} (measured)")
    ax.plot(ns, [result.gate["softmax_entropy_by_n"][str(int(n))] for n in ns], "s:", ms=3, label="softmax (gate)")
    if result.theory.get("entropy_by_n"):
        ax.plot(ns, result.theory["entropy_by_n"], "k--",
                label=f"theory ({result.theory.get('p1_theory') or 'mean field'})")
    ax.plot(ns, np.log(ns), color="0.7", lw=1, label="ln n (uniform)")
    ax.set(xscale="log", xlabel="keys n", ylabel="entropy H (nats)", title=f"{result.design}: {result.verdict}")
    save(fig, ax, f"entropy_vs_n_{result.design}.png")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for D, curve in result.needle_by_n.items():
        ax.plot(ns, [curve[str(int(n))] for n in ns], "o-", ms=3, label=f"P2 Δ = {float(D):g}")
    ax.plot(ns, [result.needle_noise_by_n[str(int(n))] for n in ns], "^-", ms=3, label=f"P3 noise, Δ = {FADE_DELTA:g}")
    if result.theory.get("needle_by_n"):
        ax.plot(ns, result.theory["needle_by_n"], "k--", label=f"theory Δ = {FADE_DELTA:g}")
    ax.set(xscale="log", yscale="log", xlabel="keys n", ylabel="needle share p*",
           title=f"{result.design}: {result.needle_verdict}")
    save(fig, ax, f"needle_vs_n_{result.design}.png")
    return paths


# -- the verdict table ---------------------------------------------------------------
def verdict_table(names, **kw) -> list[dict]:
    """One row per design: measured and theory verdicts for P1 and P2 (``kw`` as :func:`probe`)."""
    rows = []
    for name in names:
        r = probe(name, **kw)
        top = str(r.ns[-1])
        rows.append({"design": r.design, "p1": r.verdict, "p1_theory": r.theory["verdict"],
                     "p2": r.needle_verdict, "p2_theory": r.theory["needle_verdict"],
                     "match": r.matches_theory, "slope": r.slope, "H_top": r.entropy_by_n[top],
                     "max_share_top": r.max_weight_by_n[top], "dead_top": r.dead_rows_by_n[top],
                     "fade_ratio": r.fade_ratio[str(FADE_DELTA)], "params": r.params})
    return rows


def _main(argv=None) -> int:  # python -m probes.entropy [--rows R] [--max-log2n K] [names...]
    import argparse

    from probes.designs.zoo import ZOO

    ap = argparse.ArgumentParser(prog="python -m probes.entropy", description="entropy/fading verdict table")
    ap.add_argument("names", nargs="*", help="zoo names (default: the whole zoo)")
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--max-log2n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head", type=int, default=0, help="head whose normaliser and position term are probed")
    a = ap.parse_args(argv)
    table = verdict_table(a.names or ZOO, rows=a.rows, n_max=1 << a.max_log2n, seed=a.seed, noise_needle=False,
                          head=a.head)
    print("| design | P1 verdict | P1 theory | P2 verdict | P2 theory | match | slope | H(n_max) | max share "
          "| fade ratio (Δ=3) | params |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for t in table:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items()
                           if k not in ("head",))
        print(f"| {t['design']} | {t['p1']} | {t['p1_theory']} | {t['p2']} | {t['p2_theory']} | "
              f"{'yes' if t['match'] else 'NO'} | {t['slope']:.3f} | {t['H_top']:.3f} | {t['max_share_top']:.3g} | "
              f"{t['fade_ratio']:.3g} | {params} |")
    return 0 if all(t["match"] for t in table) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
