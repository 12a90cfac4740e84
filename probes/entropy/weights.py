"""Weights functions: what the entropy probe drives (logits → weights, two maps, or a feature map).

A :class:`WeightsFunction` wraps a design's own block — its first normaliser (with the position
term the probe applies to one query row, :class:`PositionRow`), a Differential-attention layer
(both maps, combined as theory's a₁ − λa₂) or a linear-attention feature map — found through the
roles the blocks declare (:mod:`probes.designs.tags`), or a user's callable
(:func:`from_callable`). ``kind`` picks the theory row (:mod:`probes.entropy.theory_rows`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from probes._lazy import lazy_import
from probes.entropy.verdicts import SIGMA, TRAIN_N
from probes.errors import InputError, NotApplicable

th = lazy_import("theory.entropy")
tv = lazy_import("theory.softmax_variants")

__all__ = ["WeightsFunction", "PositionRow", "APPLIED_POSITIONS", "UNAPPLIED_POSITIONS", "UNIT_MULTIPLIER",
           "weights_function", "with_position", "without_position", "from_callable", "from_normalizer", "reference"]


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
    """The first applied position term inside ``module`` (the first layer's), by its declared role and name."""
    from probes.designs.tags import first_role

    return first_role(module, "position", lambda m: m.name in APPLIED_POSITIONS)


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
    nname = getattr(norm, "name", None)  # the normaliser's declared name; None: no theory row

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
    label = nname or type(norm).__name__  # a label only: theory dispatches on the declared name
    return WeightsFunction(name, "logits", fn, kind, mult, {"normaliser": label, "head": head, **params})


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
    from probes.designs.normalizers import make_normalizer

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
        # the first block that declares an attention role: a whole design (diff, linear) or a normaliser
        for mod in module.modules():
            role = getattr(mod, "role", None)
            if role == "attention" and mod.attention_kind == "diff":
                return _from_diff(mod, name)
            if role == "attention" and mod.attention_kind == "linear":
                return _from_linear(mod, name)
            if role == "normalizer":
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
