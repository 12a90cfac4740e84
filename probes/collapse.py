"""Representation collapse at init: do consecutive layers converge? (Xie et al. 2023, ResiDual, arXiv 2304.14802.)

The stack (its own initialisation, ``n_layers`` deep) reads Gaussian inputs; for every stream it keeps
(the residual stream ``h``; ResiDual also its ``dual`` stream) the probe measures, per layer k,

    gap_k = 1 − cos(h_k, h_{k+1})        (mean over tokens and seeds; h_0 = the input)

and the log–log slope of gap_k against k over k ≥ ``k_min``. Theory (:mod:`theory.collapse`):
independent increments give 1 − cos ~ 1/(2k), slope −1, for a Pre-LN stream (collapse: late layers
add little); a renormalised Post-LN stream keeps a constant cosine, slope 0. Beside it the probe
reports ``independent_increment_cos`` = √(V_k/V_{k+1}) from the measured norms V_k = E‖h_k‖² (what
the cosine would be were the increments exactly uncorrelated with the stream), and, for zoo stacks
with r = d_ff/d known, the Pre-LN slope the finite range predicts for a = V₀/v between 1/(c_ffn + 1)
and 1/c_ffn (Lemma 2's per-layer growth, :mod:`theory.gradient_depth`).

Verdict of the stream the blocks read (``h``): ``shrinks`` (collapse), ``flat`` (no collapse) or
``grows`` (``probes._depth.classify``).
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

th = lazy_import("theory.collapse")
th_grad = lazy_import("theory.gradient_depth")

__all__ = ["CollapseResult", "probe", "write_plots", "markdown", "JSON_KEY", "VERDICTS", "CollapseProbe", "PROBE"]

JSON_KEY = "collapse"
VERDICTS = D.SLOPE_VERDICTS
DEFAULT_LAYERS = 48
DEFAULT_KMIN = 4


@dataclass(frozen=True)
class CollapseResult(Result):
    design: str
    placement: str | None
    verdict: str
    verdict_detail: str
    slope: float
    slope_se: float
    tolerance: float
    theory_slope: float | None
    theory_band: tuple[float, float] | None
    streams: dict          # stream -> {verdict, slope, slope_se, tolerance, theory_slope, gap: [...], ...}
    gap: tuple[float, ...]  # stream "h": 1 − cos(h_k, h_{k+1}), k = 0..N−1
    independent_increment_cos: tuple[float, ...]
    n_layers: int
    k_min: int
    setting: dict
    seeds: tuple[int, ...]
    batch: int
    tokens: int
    dtype: str
    device: str
    init: str = D.INIT_NOTE
    notes: tuple[str, ...] = field(default_factory=tuple)


def _streams(src: D.StackSource, n_layers: int, seed: int, *, batch: int, tokens: int, dtype, device) -> dict:
    module = src.make(n_layers, seed)
    task = D.make_task(src.d_model, seed, batch=batch, tokens=tokens, classes=2, dtype=dtype, device=device)
    if hasattr(module, "hidden_states"):
        with torch.no_grad():
            streams = module.hidden_states(task.x)
    else:
        blocks = D.find_blocks(module, n_layers, src.name)
        with torch.no_grad(), D.Recorder(module, blocks) as rec:
            module(task.x)
            streams = rec.by_stream(task.x)
    out = {}
    for name, hs in streams.items():
        if len(hs) != n_layers + 1:
            raise InputError(f"design {src.name!r}: stream {name!r} has {len(hs) - 1} layer outputs, expected {n_layers}")
        hs = [h.to(torch.float64) for h in hs]
        cos = [float(torch.nn.functional.cosine_similarity(hs[k], hs[k + 1], dim=-1, eps=0.0).mean())
               for k in range(n_layers)]
        sq = [float(h.pow(2).sum(-1).mean()) for h in hs]
        D.check_all_finite(src.name, f"cos(h_k, h_k+1) of stream {name!r}", cos)
        D.check_all_finite(src.name, f"‖h_k‖² of stream {name!r}", sq)
        out[name] = (cos, sq)
    return out


def probe(stack, *, n_layers: int = DEFAULT_LAYERS, k_min: int = DEFAULT_KMIN, seeds: int = 3, seed: int = 0,
          d_model: int = 64, n_heads: int = 4, d_ff: int | None = None, batch: int = 8, tokens: int = 32,
          dtype: torch.dtype = torch.float64, device="cpu") -> CollapseResult:
    """1 − cos of consecutive layers vs layer index for ``stack`` (zoo stack name, factory, import path or Subject)."""
    n_layers, k_min = int(n_layers), int(k_min)
    if k_min < 1 or n_layers - k_min < 2:
        raise InputError(f"n_layers={n_layers}, k_min={k_min}: need k_min ≥ 1 and at least two layers k ≥ k_min "
                         "to fit a slope")
    n_seeds = D.check_seeds(seeds)
    src = D.stack_source(stack, dtype=dtype, device=device, d_model=d_model, n_heads=n_heads, d_ff=d_ff)
    seed_list = tuple(int(seed) + k for k in range(n_seeds))
    with D.one_thread(device):
        runs = [_streams(src, n_layers, s, batch=batch, tokens=tokens, dtype=dtype, device=device) for s in seed_list]
    ks = np.arange(k_min, n_layers)
    pre = src.placement == "pre"
    theory_main = {"pre": "slope_preln", "post": "slope_postln", "deepnorm": "slope_postln",
                   "residual": "slope_postln"}.get(src.placement)
    streams, notes = {}, []
    for name in runs[0]:
        gaps = [1.0 - np.asarray(run[name][0]) for run in runs]
        if any((g[k_min:] <= 0).any() for g in gaps):
            raise InputError(f"design {src.name!r}: stream {name!r} has consecutive layers with cos = 1 to rounding; "
                             "no slope of 1 − cos (the stream stopped changing)")
        slope, se, _ = D.fit_slopes(ks, [g[k_min:] for g in gaps])
        D.check_all_finite(src.name, f"slope of 1 − cos ({name})", [slope, se])
        verdict, tol = D.classify(slope, se)
        key = theory_main if name == "h" else ("slope_preln" if (name == "dual" and src.placement == "residual") else None)
        t = None if key is None else float(th.COLLAPSE.predict(key))
        sq = np.mean([run[name][1] for run in runs], axis=0)
        streams[name] = {"verdict": verdict, "slope": slope, "slope_se": se, "tolerance": tol, "theory_slope": t,
                         "gap": [float(v) for v in np.mean(gaps, axis=0)],
                         "independent_increment_cos": [float(np.sqrt(sq[k] / sq[k + 1])) for k in range(n_layers)]}
    h = streams["h"]
    band = None
    if pre and src.d_ff is not None:
        r = src.d_ff / src.d_model
        f = th.COLLAPSE.function("gap_preln")
        c_lo, c_hi = th_grad.LEMMA2.predict("c_ffn", r=r), th_grad.LEMMA2.predict("c_max", r=r)
        lk = np.log(ks.astype(float))
        slopes = [float(np.polyfit(lk, np.log(f(ks.astype(float), a)), 1)[0]) for a in (1.0 / c_hi, 1.0 / c_lo)]
        band = (min(slopes), max(slopes))
        if not band[0] - h["tolerance"] <= h["slope"] <= band[1] + h["tolerance"]:
            notes.append(f"measured slope {h['slope']:.3f} outside the independent-increment band "
                         f"[{band[0]:.3f}, {band[1]:.3f}] (± tol)")
    if src.placement == "residual":
        notes.append("ResiDual: the blocks read the Post-LN stream `h` (verdict); the dual stream of raw branch outputs "
                     "is a Pre-LN-type sum and converges like one (streams['dual'])")
    if theory_main is None:
        notes.append(f"placement {src.placement!r}: no theory row; verdict only")
    detail = (f"{h['verdict']}: 1 − cos(h_k, h_k+1) slope {h['slope']:+.3f} ± {h['slope_se']:.3f} over k = "
              f"{k_min}…{n_layers - 1} (tol {h['tolerance']:.3f}; init; {str(dtype).replace('torch.', '')})")
    return CollapseResult(
        design=src.name, placement=src.placement, verdict=h["verdict"], verdict_detail=detail, slope=h["slope"],
        slope_se=h["slope_se"], tolerance=h["tolerance"], theory_slope=h["theory_slope"], theory_band=band,
        streams=streams, gap=tuple(h["gap"]), independent_increment_cos=tuple(h["independent_increment_cos"]),
        n_layers=n_layers, k_min=k_min, setting={"d_model": src.d_model, **src.settings}, seeds=seed_list,
        batch=int(batch), tokens=int(tokens), dtype=str(dtype).replace("torch.", ""), device=str(device),
        notes=tuple(notes))


def write_plots(res: CollapseResult, out_dir) -> list:
    """``collapse.png``: 1 − cos(h_k, h_{k+1}) against k per stream, log–log, with the theory slope dashed."""
    from pathlib import Path

    ks = list(range(1, res.n_layers))
    series = {f"{name} (slope {s['slope']:+.2f}, {s['verdict']})": (ks, s["gap"][1:]) for name, s in res.streams.items()}
    guides = {f"theory {res.theory_slope:g}": res.theory_slope} if res.theory_slope is not None else None
    path = Path(out_dir) / "collapse.png"
    return [D.loglog_plot(path, series, title=f"{res.design}: consecutive-layer gap at init", xlabel="layer k",
                          ylabel="1 − cos(h_k, h_{k+1})", guides=guides)]


def markdown(res: CollapseResult) -> str:
    rows = ["| stream | slope of 1 − cos vs k | verdict | theory |", "|---|---|---|---|"]
    for name, s in res.streams.items():
        t = s["theory_slope"]
        rows.append(f"| {name} | {s['slope']:+.3f} ± {s['slope_se']:.3f} | **{s['verdict']}** | "
                    f"{'—' if t is None else f'{t:g}'} |")
    if res.theory_band is not None:
        rows.append(f"\nIndependent increments over k = {res.k_min}…{res.n_layers - 1}: slope in "
                    f"[{res.theory_band[0]:.3f}, {res.theory_band[1]:.3f}] (asymptote {res.theory_slope:g}).")
    picks = sorted({1, res.k_min, res.n_layers // 4, res.n_layers // 2, res.n_layers - 1})
    rows += ["", "| k | " + " | ".join(str(k) for k in picks) + " |", "|---|" + "---|" * len(picks),
             "| 1 − cos (h) | " + " | ".join(f"{res.gap[k]:.4g}" for k in picks) + " |",
             "| 1 − √(V_k/V_k+1) | " + " | ".join(f"{1 - res.independent_increment_cos[k]:.4g}" for k in picks) + " |",
             "", f"{res.init}.", *[f"Note: {n}" for n in res.notes]]
    return "\n".join(rows)


class CollapseProbe(Probe):
    """The collapse probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "collapse", JSON_KEY, "representation collapse (init)", VERDICTS
    example_design = "preln"
    smoke_options = {**D.SMOKE, "collapse_layers": 5, "collapse_kmin": 1}

    def applies_to(self, subject, options=None):
        """A zoo depth stack, or a factory that takes ``n_layers`` (the probe builds it ``--collapse-layers`` deep)."""
        return D.applicable(subject)

    def add_arguments(self, group) -> None:
        D.add_stack_arguments(group)
        group.add_argument("--collapse-layers", type=int, default=DEFAULT_LAYERS,
                           help=f"depth N (default {DEFAULT_LAYERS})")
        group.add_argument("--collapse-kmin", type=int, default=DEFAULT_KMIN,
                           help=f"first layer k of the slope fit (default {DEFAULT_KMIN})")

    def run(self, subject, options=None) -> CollapseResult:
        o = self.options(options)
        s = D.stack_options(o, default_seeds=3)
        return probe(subject, n_layers=o["collapse_layers"], k_min=o["collapse_kmin"], seeds=s["seeds"], seed=o["seed"],
                     d_model=s["d_model"], n_heads=s["n_heads"], d_ff=s["d_ff"], batch=s["batch"], tokens=s["tokens"],
                     dtype=o["dtype"], device=o["device"])

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        r = result
        theory = "—" if r.theory_slope is None else f"slope {r.theory_slope:g}"
        return Summary(r.verdict, f"slope of 1 − cos {r.slope:+.3f} ± {r.slope_se:.3f}", theory,
                       D.slope_agrees(r.theory_slope, r.verdict, r.tolerance))


PROBE = CollapseProbe()
