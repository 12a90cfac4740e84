"""Norm-invariance probe: the LayerNorm/RMSNorm invariance table, measured on any norm module.

Zhang & Sennrich 2019, arXiv 1910.07467 (README table, after Ba et al. 2016, Table 1); theory in
:mod:`theory.norm_invariance`. For each normalisation module N (found in a design, or passed
directly) the probe draws a batch X (cases × m inputs) and W (d units × m), forms the summed
inputs A = X Wᵀ and measures, with ε set to 0 where the module exposes it (``eps``,
``epsilon``, ``variance_epsilon``), the relative output change

    dev = max|N(A′) − N(A)| / max|N(A)|

for each cell: weight-scale (W → δW), weight-recentre (W → W + 1γᵀ), row-scale (one row of W
× δ), data-scale (X → δX), data-recentre (X → X + 1γᵀ), single-case-scale (one case × δ).
``invariant``: dev ≤ 1e-10 (float64; 1e-4 in float32), ``not-invariant``: dev ≥ 1e-3, else
``inconclusive``. It also checks that the input gradient is ⟂ x (scale invariance) and ⟂ 1
(shift invariance), and — with the module's own ε — measures the relative deviation
r(s) = 1 − ‖N(s·u)‖/‖N(S·u)‖ on unit-RMS, zero-mean inputs u across input scales s, the
scale s_τ below which invariance fails by more than τ, beside the theory's
r(s) = 1 − s/√(s² + ε) and s_τ = √ε(1 − τ)/√(τ(2 − τ)).

Modules are found generically: ``nn.LayerNorm``, ``nn.RMSNorm``, batch/group norms, and any
leaf module whose class name ends in ``Norm`` (e.g. Hugging Face ``LlamaRMSNorm``). The theory
column exists for ``nn.LayerNorm`` and ``nn.RMSNorm``; any other module reports which theory
row its measured row matches (``behaves_like``).
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from probes._lazy import lazy_import
from probes.contract import Probe, Summary
from probes.errors import InputError, NotApplicable, check_finite, require_finite
from probes.result import Result

nt = lazy_import("theory.norm_invariance")

__all__ = ["JSON_KEY", "VERDICTS", "CELL_VERDICTS", "NormRow", "NormInvarianceResult", "find_norms", "probe_norm",
           "probe", "thresholds", "EPS_ATTRS", "NormInvarianceProbe", "PROBE", "markdown", "write_plots"]

JSON_KEY = "norm_invariance"
VERDICTS = ("matches-theory", "differs-from-theory", "measured-only")
CELL_VERDICTS = ("invariant", "not-invariant", "inconclusive")
EPS_ATTRS = ("eps", "epsilon", "variance_epsilon", "variance_eps")
NONZERO_TOL = 1e-3
DELTA = 2.5
SCALES = tuple(10.0 ** (k / 2) for k in range(-24, 9))  # 1e-12 .. 1e4


def thresholds(dtype: torch.dtype) -> tuple[float, float]:
    """(zero, non-zero) relative-deviation thresholds."""
    return {torch.float64: 1e-10, torch.float32: 1e-4}.get(dtype, 1e-2), NONZERO_TOL


def _cells() -> tuple[str, ...]:
    return nt.CELLS


@dataclass(frozen=True)
class NormRow(Result):
    """One norm module (or several identical ones): the measured row beside the theory row."""

    modules: tuple[str, ...]
    class_name: str
    kind: str                      # "layernorm" | "rmsnorm" | "unknown"
    d: int
    eps: float | None              # the ε the module holds (None: it exposes none)
    eps_effective: float | None    # what it uses (torch.nn.RMSNorm's eps=None is finfo(dtype).eps)
    eps_zeroed: bool               # the cells ran with ε = 0
    deviation: dict                # cell -> max relative output change
    cells: dict                    # cell -> invariant / not-invariant / inconclusive
    grad_cos_x: float              # max |cos(∇, x)| over the cases
    grad_cos_1: float              # max |cos(∇, 1)|
    grad_perp_x: str
    grad_perp_1: str
    theory: dict | None            # cell -> invariant? (theory.norm_invariance.TABLE)
    agrees_with_theory: bool | None
    behaves_like: tuple[str, ...]
    scales: tuple[float, ...]
    relative_deviation: tuple[float, ...]               # measured r(s), the module's own ε
    relative_deviation_theory: tuple[float, ...] | None  # 1 − s/√(s² + ε)
    max_rel_error_vs_theory: float | None
    tau: float
    break_scale: float | None      # measured s_τ (None: no break down to the smallest scale)
    break_scale_theory: float | None
    eps_fitted: float | None       # exact_for_this_module: the ε that gives τ at the measured s_τ
    deviation_at_unit_scale: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NormInvarianceResult(Result):
    design: str
    verdict: str
    n_norms: int
    rows: tuple[NormRow, ...]
    table: dict                    # class -> compact row "✓✓✗✓✗✓" in CELLS order
    seed: int
    dtype: str
    device: str
    zero_tol: float
    nonzero_tol: float
    parameters: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        cells = _cells()
        head = f"NormInvarianceResult: {self.design} — {self.verdict} ({self.n_norms} norm module(s))"
        lines = [head, "-" * len(head), "cells: " + ", ".join(cells)]
        for r in self.rows:
            mark = "".join({"invariant": "✓", "not-invariant": "✗"}.get(r.cells[c], "?") for c in cells)
            th = "" if r.theory is None else "".join("✓" if r.theory[c] else "✗" for c in cells)
            agree = {True: "agrees", False: "DIFFERS", None: "no theory row"}[r.agrees_with_theory]
            brk = "none" if r.break_scale is None else f"{r.break_scale:.3g}"
            brk_th = "" if r.break_scale_theory is None else f" (theory {r.break_scale_theory:.3g})"
            lines.append(f"{r.class_name:14s} ×{len(r.modules):<3d} measured {mark}  theory {th or '—':6s} {agree}; "
                         f"∇⟂x {r.grad_perp_x}, ∇⟂1 {r.grad_perp_1}; ε {r.eps_effective}; "
                         f"s_τ(τ={r.tau:g}) {brk}{brk_th}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- finding norm modules ----------------------------------------------------------------------
_NORM_TYPES = (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm,
               nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)
_NAME_RE = re.compile(r"norm(\d?d)?$", re.IGNORECASE)


def _is_norm(m: nn.Module) -> bool:
    if isinstance(m, _NORM_TYPES):
        return True
    leaf = not any(True for _ in m.children())
    return leaf and bool(_NAME_RE.search(type(m).__name__))


def find_norms(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every normalisation module inside ``module`` (by type, or a leaf class named ``...Norm``)."""
    return [(name or "(root)", m) for name, m in module.named_modules() if _is_norm(m)]


def _kind(m: nn.Module) -> str:
    if type(m) is nn.LayerNorm:
        return "layernorm"
    if type(m) is nn.RMSNorm:
        return "rmsnorm"
    return "unknown"


def _shape(m: nn.Module, d_model: int | None) -> tuple[int, ...]:
    shape = getattr(m, "normalized_shape", None)
    if shape is not None:
        return tuple(int(s) for s in (shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,)))
    for attr in ("num_features", "num_channels", "hidden_size", "d_model", "dim"):
        v = getattr(m, attr, None)
        if isinstance(v, int) and v > 0:
            return (v,)
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() == 1:
        return (int(w.numel()),)
    if d_model:
        return (int(d_model),)
    raise NotApplicable(f"{type(m).__name__}: cannot tell which width it normalises (no normalized_shape, "
                        "num_features or 1-D weight); pass --d-model")


def _eps_of(m: nn.Module) -> dict[tuple[int, str], object]:
    """(id of submodule, attribute) -> value for every ε-like attribute in ``m``."""
    out = {}
    for sub in m.modules():
        for attr in EPS_ATTRS:
            if hasattr(sub, attr):
                val = getattr(sub, attr)
                if val is None or isinstance(val, (int, float)):
                    out[(id(sub), attr)] = val
    return out


def _zero_eps(m: nn.Module) -> tuple[nn.Module, bool]:
    copy_ = copy.deepcopy(m)
    found = False
    for sub in copy_.modules():
        for attr in EPS_ATTRS:
            if hasattr(sub, attr) and (getattr(sub, attr) is None or isinstance(getattr(sub, attr), (int, float))):
                setattr(sub, attr, 0.0)
                found = True
    return copy_, found


def _effective_eps(m: nn.Module, dtype) -> float | None:
    vals = list(_eps_of(m).values())
    if not vals:
        return None
    v = vals[0]
    if v is None and isinstance(m, nn.RMSNorm):
        return float(torch.finfo(dtype).eps)  # torch: eps=None means finfo(input.dtype).eps
    return None if v is None else float(v)


# -- measuring ---------------------------------------------------------------------------------------
def _call(m, a: torch.Tensor, shape) -> torch.Tensor:
    """N(a) for a (B, units) batch, reshaped to the module's layout (B, *shape)."""
    y = m(a.reshape(a.shape[0], *shape))
    return y.reshape(a.shape[0], -1)


def _rel(y1, y0) -> float:
    scale = y0.abs().max()
    return float(((y1 - y0).abs().max() / scale).item()) if scale > 0 else float("inf")


def _verdict(dev: float, zero: float, nonzero: float) -> str:
    return "invariant" if dev <= zero else "not-invariant" if dev >= nonzero else "inconclusive"


def _probe_input(d, batch, m_in, gen, dtype, device):
    X = torch.randn(batch, m_in, generator=gen, dtype=torch.float64)
    W = torch.randn(d, m_in, generator=gen, dtype=torch.float64) / math.sqrt(m_in)
    gam = torch.randn(m_in, generator=gen, dtype=torch.float64)
    return (t.to(device=device, dtype=dtype) for t in (X, W, gam))


def _measure_cells(m, shape, X, W, gam, zero, nonzero) -> tuple[dict, dict]:
    base = _call(m, X @ W.T, shape)
    cases = {
        "weight-scale": X @ (DELTA * W).T,
        "weight-recentre": X @ (W + gam[None, :]).T,   # W + 1γᵀ
        "row-scale": X @ torch.cat([DELTA * W[:1], W[1:]]).T,
        "data-scale": (DELTA * X) @ W.T,
        "data-recentre": (X + gam[None, :]) @ W.T,
        "single-case-scale": torch.cat([DELTA * X[:1], X[1:]]) @ W.T,
    }
    assert tuple(cases) == tuple(_cells()), "probe cells out of step with theory.norm_invariance.CELLS"
    dev = {}
    for cell, A in cases.items():
        dev[cell] = _rel(_call(m, A, shape), base)
    return dev, {c: _verdict(v, zero, nonzero) for c, v in dev.items()}


def _measure_gradient(m, shape, A, gen) -> tuple[float, float]:
    x = A.detach().clone().requires_grad_(True)
    y = _call(m, x, shape)
    G = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(device=y.device, dtype=y.dtype)
    (grad,) = torch.autograd.grad((G * y).sum(), x)
    gn = grad.norm(dim=1)
    cx = (grad * x).sum(1).abs() / (gn * x.norm(dim=1))
    c1 = grad.sum(1).abs() / (gn * math.sqrt(x.shape[1]))
    return float(cx.max().item()), float(c1.max().item())


def _unit_inputs(d, batch, gen, dtype, device):
    u = torch.randn(batch, d, generator=gen, dtype=torch.float64)
    u = u - u.mean(1, keepdim=True)
    u = u / u.pow(2).mean(1, keepdim=True).sqrt()          # mean 0, RMS = σ = 1
    return u.to(device=device, dtype=dtype)


def _deviation_curve(m, shape, u, ref_scale: float):
    """s -> r(s) = 2·max|N(S·u) − N(s·u)| / max|N(S·u) − N(−S·u)|: the output's shrink factor, free of any bias.

    For N = g ⊙ n(a) + b with n odd and scale-invariant up to its ε, this is exactly 1 − ‖N‖-ratio
    of the normalised part; S (``ref_scale``) is large enough that the module's ε is negligible there.
    """
    ref = _call(m, ref_scale * u, shape)
    span = (ref - _call(m, -ref_scale * u, shape)).abs().max()

    def r(s: float) -> float:
        return float((2 * (ref - _call(m, s * u, shape)).abs().max() / span).item())

    return r


def _break_scale(r, tau: float, s_lo: float, s_hi: float) -> float | None:
    """The s where r(s) = τ, by bisection in log s (r decreases with s); None if r(s_lo) < τ."""
    if r(s_lo) < tau:
        return None
    if r(s_hi) > tau:
        return s_hi
    lo, hi = math.log(s_lo), math.log(s_hi)
    for _ in range(60):
        mid = (lo + hi) / 2
        if r(math.exp(mid)) > tau:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def probe_norm(module: nn.Module, *, d_model: int | None = None, seed: int = 0, dtype: torch.dtype = torch.float64,
               device="cpu", tau: float = 1e-3, batch: int = 8, fan_in: int = 16, name: str = "module",
               design: str = "module") -> NormRow:
    """Measure one norm module's invariance row, its gradient orthogonality and its ε break scale."""
    if not (0 < tau < 1):
        raise InputError(f"tau={tau}: the relative tolerance must lie in (0, 1)")
    zero, nonzero = thresholds(dtype)
    for pname, prm in module.named_parameters():
        require_finite(f"{name}: parameter {pname}", prm.detach())
    shape = _shape(module, d_model)
    d = int(math.prod(shape))
    if d < 3:
        raise NotApplicable(f"{name}: normalises only {d} unit(s); the table needs d ≥ 3")
    m = copy.deepcopy(module).to(device=device, dtype=dtype).eval()
    kind = _kind(module)
    gen = torch.Generator().manual_seed(30_000 + int(seed))
    X, W, gam = _probe_input(d, batch, fan_in, gen, dtype, device)
    u = _unit_inputs(d, batch, gen, dtype, device)
    notes: list[str] = []
    # 1. the module's own ε: r(s) across input scales and the break scale s_τ
    eps_eff = _effective_eps(m, dtype)
    ref_scale = 1e6 if dtype == torch.float64 else 1e4
    try:
        with torch.no_grad():
            r_of = _deviation_curve(m, shape, u, ref_scale)
            meas = tuple(r_of(s_) for s_ in SCALES)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise NotApplicable(f"{name} ({type(module).__name__}): calling it on a ({batch}, {', '.join(map(str, shape))}) "
                            f"batch raised {type(exc).__name__}: {exc}") from exc
    check_finite(design, f"{name}: relative deviation r(s)", meas)
    with torch.no_grad():
        brk = _break_scale(r_of, tau, SCALES[0], SCALES[-1])
        unit = r_of(1.0)
    fitted = float(nt.EPSILON.predict("effective_eps", s=brk, r=tau)) if brk is not None else None
    # 2. the cells and the gradient with ε = 0 (or, where ε cannot be zeroed, at a scale where it is negligible)
    m0, zeroed = _zero_eps(m)
    if zeroed:
        try:
            with torch.no_grad():
                _call(m0, X @ W.T, shape)
        except (RuntimeError, ValueError) as exc:
            m0, zeroed = m, False
            notes.append(f"ε could not be set to 0 ({type(exc).__name__}: {exc})")
    cell_scale = 1.0
    if not zeroed:
        known = eps_eff if eps_eff is not None else fitted
        if known:
            cell_scale = max(1.0, math.sqrt(50 * known / zero))
            notes.append(f"cells ran at input scale {cell_scale:.3g}, where ε = {known:.3g} changes the output by "
                         f"≈ {known / (2 * cell_scale ** 2):.1g} (< the zero tolerance)")
        elif eps_eff is None:
            notes.append("no ε attribute found (eps/epsilon/variance_epsilon) and no ε effect measured: "
                         "cells ran with the module as is")
    with torch.no_grad():
        dev, cells = _measure_cells(m0, shape, cell_scale * X, W, gam, zero, nonzero)
    for cell, v in dev.items():
        check_finite(design, f"{name}: relative change under {cell}", v)
    cx, c1 = _measure_gradient(m0, shape, cell_scale * X @ W.T, gen)
    check_finite(design, f"{name}: input-gradient cosines", [cx, c1])
    row_th = nt.theory_row(kind) if kind in nt.KINDS else None
    measured_bool = {c: v == "invariant" for c, v in cells.items()}
    conclusive = all(v != "inconclusive" for v in cells.values())
    agrees = None if row_th is None else (conclusive and measured_bool == row_th)
    like = tuple(k for k in nt.KINDS if conclusive and measured_bool == nt.theory_row(k))
    # the ε curve's theory column: the module's own kind, or the one theory row it behaves like
    theory_curve = brk_th = max_err = None
    curve_kind = kind if kind in nt.KINDS else (like[0] if len(like) == 1 else None)
    if eps_eff and curve_kind is not None:
        theory_curve = tuple(float(nt.EPSILON.predict("relative_deviation", s=s_, epsilon=eps_eff)) for s_ in SCALES)
        brk_th = float(nt.EPSILON.predict("break_scale", epsilon=eps_eff, tau=tau))
        errs = [abs(a_ - b_) / b_ for a_, b_ in zip(meas, theory_curve) if b_ >= 100 * zero]
        max_err = max(errs) if errs else None
        if curve_kind != kind:
            notes.append(f"ε theory column from the {curve_kind} row this module behaves like")
    return NormRow(
        modules=(name,), class_name=type(module).__name__, kind=kind, d=d,
        eps=next((float(v) for v in _eps_of(m).values() if v is not None), None), eps_effective=eps_eff,
        eps_zeroed=zeroed, deviation=dev, cells=cells, grad_cos_x=cx, grad_cos_1=c1,
        grad_perp_x=_verdict(cx, zero, nonzero).replace("invariant", "orthogonal"),
        grad_perp_1=_verdict(c1, zero, nonzero).replace("invariant", "orthogonal"),
        theory=row_th, agrees_with_theory=agrees, behaves_like=like, scales=SCALES, relative_deviation=meas,
        relative_deviation_theory=theory_curve, max_rel_error_vs_theory=max_err, tau=tau, break_scale=brk,
        break_scale_theory=brk_th, eps_fitted=fitted, deviation_at_unit_scale=unit, notes=tuple(notes))


def _group(rows: list[NormRow]) -> list[NormRow]:
    """Merge rows of identical modules (same class, width, ε and verdicts) into one, keeping the worst deviations."""
    out: dict[tuple, NormRow] = {}
    for r in rows:
        key = (r.class_name, r.kind, r.d, r.eps_effective, tuple(r.cells.values()), r.grad_perp_x, r.grad_perp_1)
        if key not in out:
            out[key] = r
            continue
        g = out[key]
        worst = {c: max(g.deviation[c], r.deviation[c]) if r.cells[c] == "invariant"
                 else min(g.deviation[c], r.deviation[c]) for c in g.deviation}
        out[key] = replace(g, modules=g.modules + r.modules, deviation=worst,
                                     grad_cos_x=max(g.grad_cos_x, r.grad_cos_x) if g.grad_perp_x == "orthogonal"
                                     else min(g.grad_cos_x, r.grad_cos_x),
                                     grad_cos_1=max(g.grad_cos_1, r.grad_cos_1) if g.grad_perp_1 == "orthogonal"
                                     else min(g.grad_cos_1, r.grad_cos_1))
    return list(out.values())


def probe(design, *, seed: int = 0, dtype: torch.dtype = torch.float64, device="cpu", tau: float = 1e-3,
          whole: bool = False, d_model: int | None = None, randomize: bool | None = None) -> NormInvarianceResult:
    """Norm-invariance probe of every norm module in ``design`` (zoo name, import path, module or Subject).

    ``whole``: test the design's module itself as the norm (a user's own norm class).
    """
    from probes.designs.loading import Subject, load_design

    if isinstance(design, nn.Module) and (whole or _is_norm(design)):
        # a norm module given directly: measured as it is (its own gains, biases and ε)
        shape = _shape(design, d_model)
        subject = Subject(getattr(design, "name", type(design).__name__), "module", design, int(shape[-1]))
    else:
        subject = design if isinstance(design, Subject) else load_design(
            design, randomize=randomize, seed=seed, dtype=dtype, device=device, d_model=d_model)
    found = [("(root)", subject.module)] if whole else find_norms(subject.module)
    if not found:
        raise NotApplicable(f"{subject.name}: no normalisation module found (nn.LayerNorm, nn.RMSNorm, batch/group "
                            "norms, or a leaf class named ...Norm); to test the design itself as a norm pass --ni-whole")
    rows = []
    for name, m in found:
        rows.append(probe_norm(m, d_model=subject.d_model, seed=seed, dtype=dtype, device=device, tau=tau,
                               name=name, design=subject.name))
    rows = _group(rows)
    with_theory = [r for r in rows if r.agrees_with_theory is not None]
    if not with_theory:
        verdict = "measured-only"
    else:
        verdict = "matches-theory" if all(r.agrees_with_theory for r in with_theory) else "differs-from-theory"
    cells = _cells()
    table = {r.class_name + ("" if len({x.class_name for x in rows}) == len(rows) else f"[{i}]"):
             "".join({"invariant": "✓", "not-invariant": "✗"}.get(r.cells[c], "?") for c in cells)
             for i, r in enumerate(rows)}
    zero, nonzero = thresholds(dtype)
    notes = [f"{r.class_name}: measured row matches the {', '.join(r.behaves_like)} theory row"
             for r in rows if r.theory is None and r.behaves_like]
    notes += [f"{r.class_name}: measured row matches no theory row (LayerNorm or RMSNorm)"
              for r in rows if r.theory is None and not r.behaves_like]
    return NormInvarianceResult(
        design=subject.name, verdict=verdict, n_norms=len(found), rows=tuple(rows), table=table, seed=seed,
        dtype=str(dtype).replace("torch.", ""), device=str(device), zero_tol=zero, nonzero_tol=nonzero,
        parameters=("re-drawn from the seed (gains and biases do not change any cell)" if subject.randomized
                    else "as built"), notes=tuple(notes))


def markdown(res: NormInvarianceResult) -> str:
    cells = _cells()
    lines = ["| module | × | " + " | ".join(cells) + " | ∇⟂x | ∇⟂1 | theory | ε | s_τ measured | s_τ theory |",
             "|" + "---|" * (len(cells) + 8)]
    for r in res.rows:
        cell = [f"{'✓' if r.cells[c] == 'invariant' else '✗' if r.cells[c] == 'not-invariant' else '?'} "
                f"({r.deviation[c]:.1e})" for c in cells]
        th = "—" if r.theory is None else ("agrees" if r.agrees_with_theory else "**differs**")
        brk = "none" if r.break_scale is None else f"{r.break_scale:.4g}"
        brk_th = "—" if r.break_scale_theory is None else f"{r.break_scale_theory:.4g}"
        lines.append(f"| {r.class_name} | {len(r.modules)} | " + " | ".join(cell) +
                     f" | {r.grad_perp_x} | {r.grad_perp_1} | {th} | {r.eps_effective} | {brk} | {brk_th} |")
    lines.append(f"\n✓ = relative change ≤ {res.zero_tol:g} with ε = 0, ✗ = ≥ {res.nonzero_tol:g}. "
                 "s_τ: the input scale below which the module's own ε changes the output by more than τ.")
    lines += [f"\nNote: {n}" for n in res.notes]
    return "\n".join(lines)


def write_plots(res: NormInvarianceResult, out_dir) -> list:
    """``norm_invariance.png``: measured r(s) per norm class against 1 − s/√(s² + ε) (log-log)."""
    from probes import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for r in res.rows:
        pts = [(s_, v) for s_, v in zip(r.scales, r.relative_deviation) if v > 0]
        if pts:
            ax.loglog(*zip(*pts), "o", ms=3, label=f"{r.class_name} measured")
        if r.relative_deviation_theory:
            ax.loglog(r.scales, r.relative_deviation_theory, "-", lw=1, label=f"1 − s/√(s²+ε), ε={r.eps_effective:.3g}")
    ax.axhline(res.rows[0].tau, color="k", ls=":", lw=1, label=f"τ = {res.rows[0].tau:g}")
    ax.set_xlabel("input scale s (RMS = σ of the summed inputs)")
    ax.set_ylabel("relative output change r(s)")
    ax.set_title(f"{res.design}: ε breaks scale invariance below s_τ")
    return [plotting.save(fig, Path(out_dir) / "norm_invariance.png", legend=ax)]


class NormInvarianceProbe(Probe):
    """The norm-invariance probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "norm-invariance", JSON_KEY, "LayerNorm/RMSNorm invariance table", VERDICTS
    example_design = "rope"
    smoke_options = {}

    def applies_to(self, subject, options=None):
        """A design with at least one normalisation module (or, with ``ni_whole``, the design as a norm)."""
        ok, why = super().applies_to(subject, options)
        if not ok or (options or {}).get("ni_whole") or find_norms(subject.module):
            return ok, why
        return False, (f"{subject.name}: no normalisation module found (nn.LayerNorm, nn.RMSNorm, batch/group norms, "
                       "or a leaf class named ...Norm); to test the design itself as a norm pass --ni-whole")

    def add_arguments(self, group) -> None:
        group.add_argument("--ni-tau", type=float, default=1e-3,
                           help="relative tolerance τ for the ε break scale s_τ (default 1e-3)")
        group.add_argument("--ni-whole", action="store_true",
                           help="test the design's module itself as the norm (a norm class of your own)")

    def run(self, subject, options=None) -> NormInvarianceResult:
        o = self.options(options)
        return probe(subject, seed=o["seed"], dtype=o["dtype"], device=o["device"], tau=float(o["ni_tau"]),
                     whole=bool(o["ni_whole"]))

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        cells = _cells()
        brk = lambda s: "none" if s is None else f"{s:.3g}"  # noqa: E731
        key = "; ".join(f"{cls} {mark}, s_τ {brk(r.break_scale)}" for (cls, mark), r in zip(result.table.items(),
                                                                                            result.rows))
        theory = "; ".join(f"{r.class_name} " + "".join("✓" if r.theory[c] else "✗" for c in cells)
                           + ("" if r.break_scale_theory is None else f", s_τ {brk(r.break_scale_theory)}")
                           for r in result.rows if r.theory is not None) or "—"
        agrees = None if result.verdict == "measured-only" else result.verdict == "matches-theory"
        return Summary(result.verdict, key, theory, agrees)


PROBE = NormInvarianceProbe()
