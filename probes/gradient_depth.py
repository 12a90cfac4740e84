"""Gradient scale at initialisation against depth (Xiong et al. 2020, arXiv 2002.04745, Lemmas 1–3, Thm 1, App. F).

For each depth L and seed the stack is built with its own initialisation, fed Gaussian inputs
x ~ N(0, I) (batch × tokens), read out by a Xavier matrix into cross-entropy on random labels, and
back-propagated once. Measured (theory from :mod:`theory.gradient_depth`):

* ‖∂L/∂W^{2,l}‖_F for every layer l (W² = the FFN's output matrix); the **last layer's** log–log
  slope against L (theory: 0 Post-LN, −½ Pre-LN; between the two end depths a Pre-LN slope lies in
  the band of Lemma 2's growth c ∈ [2r/(1+r)², 2r/(1+r)² + 1]);
* the per-layer profile: last/first ratio per depth, and the per-layer log-rate of ‖∇W^{2,l}‖ in l at
  the largest depth (theory at init: 0, the LN factor √(2/3) cancelling the branch gain; App. F's
  decay would be ½ ln(3/2) = 0.203 per layer); with ``reference=True`` the same for ``preln`` and the
  Post/Pre **profile ratio** (last/first)_this ÷ (last/first)_preln;
* Lemma 3's mechanism: the scale ‖x − x̄‖/√d of the last norm's input; ‖∇W^{2,L}‖ times it should be
  flat in L (``compensated_slope``);
* Lemma 2: ``ffn_residual_sq``, the mean over layers of E‖FFN residual sum‖²/d at the largest depth:
  x^{post,5} for Post-LN (theory 1 + 2r/(1+r)², every layer alike), the block output for Pre-LN (which
  grows with l); for Pre-LN also the growth (E‖x_L‖²/d − 1)/L (theory: in [c_ffn, c_ffn + 1]).

What does not reproduce at init on random data (reported, not hidden): Xiong's per-layer *shape*
(their Fig. 3: Post-LN's gradient growing toward the output, Pre-LN's flat). At init Post-LN's profile
is flat (the cancellation above) and Pre-LN's *falls* toward the output, because every later branch
adds its Jacobian, ∝ √d/‖x_k‖ and largest near the input, to the residual stream's gradient. Only the
comparison survives: the Post/Pre profile ratio is > 1 and grows with L.

Verdict on the last layer's slope: ``flat``/``grows``/``shrinks`` (``probes._depth.classify``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from probes import _depth as D
from probes._lazy import lazy_import
from probes.contract import Probe, Summary
from probes.errors import InputError
from probes.result import Result

th = lazy_import("theory.gradient_depth")

__all__ = ["GradientDepthResult", "probe", "write_plots", "markdown", "JSON_KEY", "VERDICTS", "measure",
           "GradientDepthProbe", "PROBE"]

JSON_KEY = "gradient_depth"
VERDICTS = D.SLOPE_VERDICTS
DEFAULT_DEPTHS = (6, 12, 24, 48)


@dataclass(frozen=True)
class GradientDepthResult(Result):
    design: str
    placement: str | None
    verdict: str
    verdict_detail: str
    slope: float
    slope_se: float
    slope_by_seed: tuple[float, ...]
    tolerance: float
    theory_slope: float | None
    theory_band: tuple[float, float] | None
    endpoint_slope: float
    depths: tuple[int, ...]
    last_layer_grad: dict
    last_layer_grad_by_seed: dict
    profiles: dict
    profile_ratio: dict
    profile_rate: float
    profile_rate_se: float
    profile_rate_theory: float | None
    profile_rate_appF: float
    reference_profile_ratio: dict | None
    profile_ratio_vs_preln: dict | None
    final_norm_scale: dict
    compensated_slope: float
    compensated_slope_se: float
    ffn_residual_sq: float | None
    ffn_residual_sq_se: float | None
    ffn_residual_sq_theory: float | None
    growth_per_layer: dict | None
    growth_band: tuple[float, float] | None
    gradient_of: str
    setting: dict
    seeds: tuple[int, ...]
    batch: int
    tokens: int
    classes: int
    dtype: str
    device: str
    init: str = D.INIT_NOTE
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Run:
    grads: list          # per layer ‖∇W^{2,l}‖_F
    final_scale: float   # √(mean over tokens ‖y − ȳ‖²/d), y = the last norm's input
    post5: list          # per layer mean ‖FFN residual sum‖²/d (Post-LN norm2 inputs; Pre-LN block outputs), or []
    top_sq: float        # mean ‖h_L‖²/d of the last block's output


def _one(src: D.StackSource, n_layers: int, seed: int, *, batch: int, tokens: int, classes: int, dtype,
         device) -> _Run:
    module = src.make(n_layers, seed)
    blocks = D.find_blocks(module, n_layers, src.name)
    weights = [D.ffn_out(b)[0] for b in blocks]
    task = D.make_task(src.d_model, seed, batch=batch, tokens=tokens, classes=classes, dtype=dtype, device=device)
    post5: list[torch.Tensor] = []
    handles = []
    if src.placement == "post":  # the FFN residual sum is what each block's second norm receives
        for b in blocks:
            norm2 = getattr(b, "norm2", None)
            if norm2 is not None:
                handles.append(norm2.register_forward_pre_hook(lambda _m, inp: post5.append(inp[0].detach())))
    module.zero_grad(set_to_none=True)
    with D.Recorder(module, blocks) as rec:
        try:
            out = module(task.x)
        finally:
            for h in handles:
                h.remove()
        D.check_finite(src.name, f"output at n_layers={n_layers}", out)
        loss = task.loss(out)
        loss.backward()
    grads = []
    for l, w in enumerate(weights):
        if w.grad is None:
            raise InputError(f"design {src.name!r}: W² of layer {l} got no gradient (is it used in forward?)")
        grads.append(float(w.grad.detach().norm()))
    D.check_all_finite(src.name, f"W² gradient norms at n_layers={n_layers}", grads)
    y = rec.last_norm_input
    if y is None:
        y = rec.by_stream(task.x)["h"][-1]
    y = y.to(torch.float64)
    centred = y - y.mean(-1, keepdim=True) if not isinstance(_last_norm(module), torch.nn.RMSNorm) else y
    final_scale = float((centred.pow(2).sum(-1) / y.shape[-1]).mean().sqrt())
    top = rec.by_stream(task.x)["h"][-1].to(torch.float64)
    top_sq = float((top.pow(2).sum(-1) / top.shape[-1]).mean())
    if src.placement == "pre":
        post5 = rec.by_stream(task.x)["h"][1:]
    p5 = [float((p.to(torch.float64).pow(2).sum(-1) / p.shape[-1]).mean()) for p in post5]
    return _Run(grads, final_scale, p5, top_sq)


def _last_norm(module):
    norms = [m for m in module.modules() if isinstance(m, (torch.nn.LayerNorm, torch.nn.RMSNorm))]
    return norms[-1] if norms else None


def measure(src: D.StackSource, depths, seeds, *, batch, tokens, classes, dtype, device) -> dict:
    """Raw runs: {L: [_Run per seed]}."""
    with D.one_thread(device):
        return {L: [_one(src, L, s, batch=batch, tokens=tokens, classes=classes, dtype=dtype, device=device)
                    for s in seeds] for L in depths}


def _profile_rate(runs) -> tuple[float, float]:
    """Per-seed LS slope of ln‖∇W^{2,l}‖ against l (per-layer log-rate), mean and SE."""
    rates = []
    for run in runs:
        ls = np.arange(1, len(run.grads) + 1, dtype=float)
        rates.append(float(np.polyfit(ls, np.log(run.grads), 1)[0]))
    se = float(np.std(rates, ddof=1) / np.sqrt(len(rates))) if len(rates) > 1 else float("nan")
    return float(np.mean(rates)), se


def probe(stack, *, depths=DEFAULT_DEPTHS, seeds: int = 4, seed: int = 0, d_model: int = 64, n_heads: int = 4,
          d_ff: int | None = None, setting: str = "standard", batch: int = 8, tokens: int = 32, classes: int = 100,
          reference: bool = True, dtype: torch.dtype = torch.float64, device="cpu") -> GradientDepthResult:
    """Per-layer W² gradients at init vs depth for ``stack`` (zoo stack name, factory, import path or Subject).

    ``setting`` applies to zoo stacks: ``"standard"`` (Xavier Q/K, W^O, 4 heads, d_ff = 4d) or ``"xiong"``
    (one head, W^Q = W^K = 0, no W^O, d_ff = d, as in Xiong et al.'s analysis).
    """
    depths = D.parse_depths(depths)
    n_seeds = D.check_seeds(seeds)
    for name, val in (("batch", batch), ("tokens", tokens), ("classes", classes)):
        if int(val) < 1:
            raise InputError(f"{name}={val}: must be ≥ 1")
    src = D.stack_source(stack, dtype=dtype, device=device, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                         setting=setting)
    seed_list = tuple(int(seed) + k for k in range(n_seeds))
    kw = dict(batch=batch, tokens=tokens, classes=classes, dtype=dtype, device=device)
    runs = measure(src, depths, seed_list, **kw)
    last = {L: [r.grads[-1] for r in runs[L]] for L in depths}
    slope, se, by_seed = D.fit_slopes(depths, [[last[L][k] for L in depths] for k in range(n_seeds)])
    D.check_all_finite(src.name, "last-layer gradient slope", [slope, se])
    verdict, tol = D.classify(slope, se)
    endpoint = float(np.log(np.mean(last[depths[-1]]) / np.mean(last[depths[0]])) / np.log(depths[-1] / depths[0]))
    comp = [[last[L][k] * runs[L][k].final_scale for L in depths] for k in range(n_seeds)]
    comp_slope, comp_se, _ = D.fit_slopes(depths, comp)
    profiles = {str(L): [float(v) for v in np.mean([r.grads for r in runs[L]], axis=0)] for L in depths}
    ratio = {str(L): profiles[str(L)][-1] / profiles[str(L)][0] for L in depths}
    rate, rate_se = _profile_rate(runs[depths[-1]])
    r_ff = None if src.d_ff is None else src.d_ff / src.d_model
    theory_slope = theory_band = post5_theory = growth = band = None
    notes: list[str] = []
    if src.placement == "post":
        theory_slope = float(th.DEPTH_SLOPE.predict("slope_postln"))
    elif src.placement == "pre":
        theory_slope = float(th.DEPTH_SLOPE.predict("slope_preln"))
    else:
        notes.append(f"placement {src.placement!r}: Xiong et al.'s Theorem 1 gives no slope for it; verdict only")
    post5 = post5_se = None
    if src.placement in ("post", "pre"):
        per_seed = [float(np.mean(r.post5)) for r in runs[depths[-1]] if r.post5]
        if per_seed:
            post5 = float(np.mean(per_seed))
            post5_se = float(np.std(per_seed, ddof=1) / np.sqrt(len(per_seed))) if len(per_seed) > 1 else None
    if r_ff is not None:
        if src.placement == "post":
            post5_theory = float(th.LEMMA2.predict("post5_norm_ratio", r=r_ff))
        if src.placement == "pre":
            theory_band = (float(th.DEPTH_SLOPE.predict("preln_band_lo", L1=depths[0], L2=depths[-1], r=r_ff)),
                           float(th.DEPTH_SLOPE.predict("preln_band_hi", L1=depths[0], L2=depths[-1], r=r_ff)))
            growth = {str(L): float((np.mean([r.top_sq for r in runs[L]]) - 1.0) / L) for L in depths}
            band = (float(th.LEMMA2.predict("c_ffn", r=r_ff)), float(th.LEMMA2.predict("c_max", r=r_ff)))
    rate_theory = float(th.CANCELLATION.predict("profile_rate_init")) if src.placement == "post" else None
    ref_ratio = vs_pre = None
    if reference and src.kind == "zoo-stack" and src.name != "preln":
        ref = D.stack_source("preln", dtype=dtype, device=device, d_model=src.d_model, n_heads=n_heads, d_ff=d_ff,
                             setting=setting)
        ref_runs = measure(ref, depths, seed_list, **kw)
        ref_prof = {L: np.mean([r.grads for r in ref_runs[L]], axis=0) for L in depths}
        ref_ratio = {str(L): float(ref_prof[L][-1] / ref_prof[L][0]) for L in depths}
        vs_pre = {str(L): ratio[str(L)] / ref_ratio[str(L)] for L in depths}
    if src.placement == "post" and ratio[str(depths[-1])] < 2:
        notes.append("Xiong et al.'s Fig. 3 shape (Post-LN growing toward the output) does not appear at init: the LN "
                     "factor √(2/3) and the branch gain √(3/2) cancel (theory.gradient_depth, xiong-appF-cancellation)")
    if src.placement == "pre" and ratio[str(depths[-1])] < 1:
        notes.append("Pre-LN's profile falls toward the output at init (Xiong et al.'s Fig. 3 shows it flat): later "
                     "branches add their Jacobians, ∝ √d/‖x_k‖, to the residual gradient of the lower layers")
    if theory_band is not None and not (theory_band[0] <= endpoint <= theory_band[1]):
        notes.append(f"end-to-end slope {endpoint:.3f} outside the Lemma-2 band [{theory_band[0]:.3f}, "
                     f"{theory_band[1]:.3f}]")
    detail = (f"{verdict}: last-layer slope {slope:+.3f} ± {se:.3f} (tol {tol:.3f}; init, no optimiser; "
              f"{str(dtype).replace('torch.', '')})")
    _, name = D.ffn_out(D.find_blocks(src.make(depths[0], seed_list[0]), depths[0], src.name)[-1])
    return GradientDepthResult(
        design=src.name, placement=src.placement, verdict=verdict, verdict_detail=detail, slope=slope, slope_se=se,
        slope_by_seed=tuple(by_seed), tolerance=tol, theory_slope=theory_slope, theory_band=theory_band,
        endpoint_slope=endpoint, depths=depths,
        last_layer_grad={str(L): float(np.mean(last[L])) for L in depths},
        last_layer_grad_by_seed={str(L): [float(v) for v in last[L]] for L in depths},
        profiles=profiles, profile_ratio=ratio, profile_rate=rate, profile_rate_se=rate_se,
        profile_rate_theory=rate_theory, profile_rate_appF=float(th.CANCELLATION.predict("profile_rate_appF")),
        reference_profile_ratio=ref_ratio, profile_ratio_vs_preln=vs_pre,
        final_norm_scale={str(L): float(np.mean([r.final_scale for r in runs[L]])) for L in depths},
        compensated_slope=comp_slope, compensated_slope_se=comp_se, ffn_residual_sq=post5, ffn_residual_sq_se=post5_se,
        ffn_residual_sq_theory=post5_theory, growth_per_layer=growth, growth_band=band, gradient_of=name,
        setting={"d_model": src.d_model, **src.settings}, seeds=seed_list, batch=int(batch), tokens=int(tokens),
        classes=int(classes), dtype=str(dtype).replace("torch.", ""), device=str(device), notes=tuple(notes))


def write_plots(res: GradientDepthResult, out_dir) -> list:
    """``gradient_depth.png``: last-layer ‖∇W²‖ vs L (log–log, theory slope dashed);
    ``gradient_profile.png``: ‖∇W^{2,l}‖ per layer l at every depth."""
    from pathlib import Path

    out = Path(out_dir)
    ls = list(res.depths)
    guides = {f"theory slope {res.theory_slope:g}": res.theory_slope} if res.theory_slope is not None else None
    paths = [D.loglog_plot(out / "gradient_depth.png", {f"{res.design} (slope {res.slope:+.2f})":
                                                        (ls, [res.last_layer_grad[str(L)] for L in ls])},
                           title=f"{res.design}: last-layer FFN gradient at init — {res.verdict}", xlabel="layers L",
                           ylabel="‖∂L/∂W^{2,L}‖_F", guides=guides)]
    series = {f"L = {L}": (list(range(1, L + 1)), res.profiles[str(L)]) for L in ls}
    paths.append(D.loglog_plot(out / "gradient_profile.png", series, title=f"{res.design}: per-layer W² gradient at init "
                               "(App. F's decay would be a straight line)", xlabel="layer l",
                               ylabel="‖∂L/∂W^{2,l}‖_F", xlog=False))
    return paths


def markdown(res: GradientDepthResult) -> str:
    th_s = "—" if res.theory_slope is None else f"{res.theory_slope:g}"
    band = "" if res.theory_band is None else f" (Lemma-2 band [{res.theory_band[0]:.3f}, {res.theory_band[1]:.3f}])"
    rows = ["| quantity | measured | theory |", "|---|---|---|",
            f"| last-layer slope vs L | **{res.slope:+.3f} ± {res.slope_se:.3f}** ({res.verdict}) | {th_s}{band} |",
            f"| slope × last-norm scale (Lemma 3) | {res.compensated_slope:+.3f} ± {res.compensated_slope_se:.3f} | 0 |",
            f"| per-layer log-rate at L = {res.depths[-1]} | {res.profile_rate:+.4f} ± {res.profile_rate_se:.4f} | "
            f"{'—' if res.profile_rate_theory is None else res.profile_rate_theory:} (App. F without the branch gain: "
            f"{res.profile_rate_appF:.4f}) |"]
    if res.ffn_residual_sq is not None:
        rows.append(f"| E‖FFN residual sum‖²/d (mean over layers) | {res.ffn_residual_sq:.4f} ± "
                    f"{res.ffn_residual_sq_se or float('nan'):.4f} | "
                    f"{'—' if res.ffn_residual_sq_theory is None else f'{res.ffn_residual_sq_theory:.4f}'} |")
    rows.append("")
    rows.append("| L | " + " | ".join(str(L) for L in res.depths) + " |")
    rows.append("|---|" + "---|" * len(res.depths))
    rows.append("| ‖∇W^{2,L}‖ | " + " | ".join(f"{res.last_layer_grad[str(L)]:.4g}" for L in res.depths) + " |")
    rows.append("| last/first | " + " | ".join(f"{res.profile_ratio[str(L)]:.3g}" for L in res.depths) + " |")
    if res.profile_ratio_vs_preln:
        rows.append("| ÷ Pre-LN's last/first | " + " | ".join(f"{res.profile_ratio_vs_preln[str(L)]:.3g}"
                                                          for L in res.depths) + " |")
    rows += ["", f"{res.init}.", *[f"Note: {n}" for n in res.notes]]
    return "\n".join(rows)


class GradientDepthProbe(Probe):
    """The gradient-depth probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "gradient-depth", JSON_KEY, "last-layer gradient vs depth (init)", VERDICTS
    example_design = "preln"
    smoke_options = {**D.SMOKE, "gd_depths": "2,4", "gd_no_reference": True}

    def applies_to(self, subject, options=None):
        """A zoo depth stack, or a factory that takes ``n_layers`` (the probe builds it at several depths)."""
        return D.applicable(subject)

    def add_arguments(self, group) -> None:
        D.add_stack_arguments(group)
        group.add_argument("--gd-depths", default="6,12,24,48", help="depths L (default 6,12,24,48)")
        group.add_argument("--gd-setting", default="standard", choices=("standard", "xiong"),
                           help="zoo stacks: standard (Xavier Q/K, W^O) or xiong (one head, W^Q = W^K = 0, d_ff = d)")
        group.add_argument("--gd-no-reference", action="store_true", help="skip the Pre-LN reference profile")

    def run(self, subject, options=None) -> GradientDepthResult:
        o = self.options(options)
        s = D.stack_options(o, default_seeds=4)
        return probe(subject, depths=o["gd_depths"], seeds=s["seeds"], seed=o["seed"], d_model=s["d_model"],
                     n_heads=s["n_heads"], d_ff=s["d_ff"], setting=o["gd_setting"], batch=s["batch"],
                     tokens=s["tokens"], reference=not o["gd_no_reference"], dtype=o["dtype"], device=o["device"])

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        r = result
        theory = "—" if r.theory_slope is None else f"slope {r.theory_slope:g}"
        return Summary(r.verdict, f"slope {r.slope:+.3f} ± {r.slope_se:.3f}", theory,
                       D.slope_agrees(r.theory_slope, r.verdict, r.tolerance))


PROBE = GradientDepthProbe()
