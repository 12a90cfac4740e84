"""How far one optimiser step moves the model, against depth (DeepNet, arXiv 2203.00555, Thm 4.2;
Su 2022, kexue.fm/archives/8978).

For each depth N, seed and optimiser the stack is built with its own initialisation, trained for
**one** step on Gaussian inputs with random labels (cross-entropy through a fixed Xavier readout;
every stack parameter is updated, the readout is not), and

    ‖ΔF‖ = mean over tokens of ‖F_{θ₁}(x) − F_{θ₀}(x)‖

is measured on the same batch, reported as ‖ΔF‖/η (the linear regime: η is small). SGD: Δθ = −η∇L;
Adam (β = (0.9, 0.98), ε = 1e−12): the first step is −η·g/(|g| + ε) ≈ −η·sign(g)
(:mod:`theory.update_depth`, ``adam-first-step``). Float64 by default: at tiny η, float32 round-off
in F₁ − F₀ distorts the slopes (a note says so when ‖ΔF‖ nears the round-off of ‖F‖).

Theory slopes of ‖ΔF‖ against N (``update-depth-slopes``): Post-LN 1 under both; Pre-LN 0 (SGD),
½ (Adam); DeepNet's constants 0 (SGD), ½ (Adam); Su's Adam constants −1 (SGD), 0 (Adam). The
verdict per optimiser is ``flat``/``grows``/``shrinks`` (``probes._depth.classify``).
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

th = lazy_import("theory.update_depth")

__all__ = ["UpdateDepthResult", "probe", "one_step", "write_plots", "markdown", "JSON_KEY", "VERDICTS", "OPTIMIZERS",
           "ADAM_BETAS", "ADAM_EPS", "UpdateDepthProbe", "PROBE"]

JSON_KEY = "update_depth"
VERDICTS = D.SLOPE_VERDICTS
OPTIMIZERS = ("sgd", "adam")
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-12
DEFAULT_DEPTHS = (6, 12, 24, 48)
DEFAULT_LR = 1e-6


@dataclass(frozen=True)
class UpdateDepthResult(Result):
    design: str
    placement: str | None
    optimizers: tuple[str, ...]
    verdict: dict
    verdict_detail: dict
    slope: dict
    slope_se: dict
    tolerance: dict
    theory_slope: dict
    depths: tuple[int, ...]
    delta_f: dict          # optimiser -> {N: mean ‖ΔF‖/η}
    delta_f_by_seed: dict  # optimiser -> {N: [per seed]}
    lr: float
    setting: dict
    seeds: tuple[int, ...]
    batch: int
    tokens: int
    classes: int
    dtype: str
    device: str
    init: str = D.INIT_NOTE
    notes: tuple[str, ...] = field(default_factory=tuple)


def _optimizer(name: str, params, lr: float):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    raise InputError(f"optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def one_step(module: torch.nn.Module, task: D.Task, optimizer: str, lr: float, design: str = "design") -> tuple[float, float]:
    """(‖ΔF‖/η averaged over tokens, ‖F₀‖ averaged over tokens) after one ``optimizer`` step on ``task``."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise InputError(f"design {design!r}: no trainable parameters to update")
    with torch.no_grad():
        f0 = module(task.x)
    D.check_finite(design, "output before the step", f0)
    opt = _optimizer(optimizer, params, lr)
    opt.zero_grad(set_to_none=True)
    task.loss(module(task.x)).backward()
    for p in params:
        if p.grad is not None:
            D.check_finite(design, f"gradient ({optimizer})", p.grad)
    opt.step()
    with torch.no_grad():
        f1 = module(task.x)
    D.check_finite(design, f"output after one {optimizer} step", f1)
    diff = (f1 - f0).to(torch.float64).norm(dim=-1).mean().item()
    return diff / lr, f0.to(torch.float64).norm(dim=-1).mean().item()


def probe(stack, *, depths=DEFAULT_DEPTHS, optimizers=OPTIMIZERS, seeds: int = 3, seed: int = 0, lr: float = DEFAULT_LR,
          d_model: int = 64, n_heads: int = 4, d_ff: int | None = None, batch: int = 8, tokens: int = 32,
          classes: int = 100, dtype: torch.dtype = torch.float64, device="cpu") -> UpdateDepthResult:
    """‖ΔF‖/η after one step vs depth for ``stack`` (zoo stack name, factory, import path or Subject)."""
    depths = D.parse_depths(depths)
    n_seeds = D.check_seeds(seeds)
    lr = D.check_positive("lr", lr)
    if isinstance(optimizers, str):
        optimizers = tuple(o for o in optimizers.replace(" ", "").split(",") if o)
    optimizers = tuple(optimizers)
    bad = [o for o in optimizers if o not in OPTIMIZERS]
    if not optimizers or bad:
        raise InputError(f"optimizers {bad or optimizers!r}: choose from {', '.join(OPTIMIZERS)}")
    src = D.stack_source(stack, dtype=dtype, device=device, d_model=d_model, n_heads=n_heads, d_ff=d_ff)
    seed_list = tuple(int(seed) + k for k in range(n_seeds))
    eps = torch.finfo(dtype).eps
    verdict, detail, slope, slope_se, tol, theory = {}, {}, {}, {}, {}, {}
    delta, delta_seed, notes = {}, {}, []
    with D.one_thread(device):
        for opt in optimizers:
            vals = {L: [] for L in depths}
            for L in depths:
                for s in seed_list:
                    task = D.make_task(src.d_model, s, batch=batch, tokens=tokens, classes=classes, dtype=dtype,
                                       device=device)
                    df, f0 = one_step(src.make(L, s), task, opt, lr, src.name)
                    if df * lr < 100 * eps * f0:
                        notes.append(f"{opt}, N={L}: ‖ΔF‖ = {df * lr:.2e} is within 100 round-offs of ‖F‖ = {f0:.3g} "
                                     f"in {str(dtype).replace('torch.', '')}; use float64 or a larger lr")
                    vals[L].append(df)
            D.check_all_finite(src.name, f"‖ΔF‖/η ({opt})", [v for L in depths for v in vals[L]])
            zero = [L for L in depths if min(vals[L]) <= 0]
            if zero:
                raise InputError(f"design {src.name!r}: one {opt} step left the output unchanged (‖ΔF‖ = 0) at N = "
                                 f"{zero[0]}: the step is below the round-off of {str(dtype).replace('torch.', '')}; "
                                 "use float64 or a larger --ud-lr")
            m, se, _ = D.fit_slopes(depths, [[vals[L][k] for L in depths] for k in range(n_seeds)])
            D.check_all_finite(src.name, f"‖ΔF‖ slope ({opt})", [m, se])
            v, t = D.classify(m, se)
            key = f"slope_{src.name.replace('-', '_')}_{opt}"
            th_val = float(th.SLOPES.function(key)()) if key in th.SLOPES.prediction_names else None
            verdict[opt], slope[opt], slope_se[opt], tol[opt], theory[opt] = v, m, se, t, th_val
            detail[opt] = (f"{v} under {opt} ({str(dtype).replace('torch.', '')}): slope {m:+.3f} ± {se:.3f} "
                           f"(tol {t:.3f}; theory {'—' if th_val is None else f'{th_val:g}'})")
            delta[opt] = {str(L): float(np.mean(vals[L])) for L in depths}
            delta_seed[opt] = {str(L): [float(x) for x in vals[L]] for L in depths}
    if src.kind != "zoo-stack" or src.name not in th.DESIGNS:
        notes.append(f"{src.name!r} has no theory row in theory.update_depth; verdicts only")
    return UpdateDepthResult(
        design=src.name, placement=src.placement, optimizers=optimizers, verdict=verdict, verdict_detail=detail,
        slope=slope, slope_se=slope_se, tolerance=tol, theory_slope=theory, depths=depths, delta_f=delta,
        delta_f_by_seed=delta_seed, lr=lr, setting={"d_model": src.d_model, **src.settings,
                                                    "adam": {"betas": ADAM_BETAS, "eps": ADAM_EPS}},
        seeds=seed_list, batch=int(batch), tokens=int(tokens), classes=int(classes),
        dtype=str(dtype).replace("torch.", ""), device=str(device), notes=tuple(dict.fromkeys(notes)))


def write_plots(res: UpdateDepthResult, out_dir) -> list:
    """``update_depth.png``: ‖ΔF‖/η against N per optimiser, log–log, with the theory slopes dashed."""
    from pathlib import Path

    ls = list(res.depths)
    series = {f"{o} (slope {res.slope[o]:+.2f}, {res.verdict[o]})": (ls, [res.delta_f[o][str(L)] for L in ls])
              for o in res.optimizers}
    guides = {f"theory {o}: {res.theory_slope[o]:g}": res.theory_slope[o] for o in res.optimizers
              if res.theory_slope.get(o) is not None} or None
    path = Path(out_dir) / "update_depth.png"
    return [D.loglog_plot(path, series, title=f"{res.design}: one-step ‖ΔF‖ against depth", xlabel="layers N",
                          ylabel="‖ΔF‖ / η", guides=guides if len(res.optimizers) == 1 else None)]


def markdown(res: UpdateDepthResult) -> str:
    rows = ["| optimiser | slope of ‖ΔF‖ vs N | verdict | theory |", "|---|---|---|---|"]
    for o in res.optimizers:
        t = res.theory_slope.get(o)
        rows.append(f"| {o} | {res.slope[o]:+.3f} ± {res.slope_se[o]:.3f} | **{res.verdict[o]}** | "
                    f"{'—' if t is None else f'{t:g}'} |")
    rows += ["", "| ‖ΔF‖/η | " + " | ".join(f"N = {L}" for L in res.depths) + " |",
             "|---|" + "---|" * len(res.depths)]
    for o in res.optimizers:
        rows.append(f"| {o} | " + " | ".join(f"{res.delta_f[o][str(L)]:.4g}" for L in res.depths) + " |")
    rows += ["", f"{res.init}; one step, lr {res.lr:g}, {res.dtype}.", *[f"Note: {n}" for n in res.notes]]
    return "\n".join(rows)


class UpdateDepthProbe(Probe):
    """The update-depth probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "update-depth", JSON_KEY, "one-step update size vs depth", VERDICTS
    example_design = "preln"
    smoke_options = {**D.SMOKE, "ud_depths": "2,4", "ud_optimizer": "sgd"}

    def applies_to(self, subject, options=None):
        """A zoo depth stack, or a factory that takes ``n_layers`` (the probe builds it at several depths)."""
        return D.applicable(subject)

    def add_arguments(self, group) -> None:
        D.add_stack_arguments(group)
        group.add_argument("--ud-depths", default="6,12,24,48", help="depths N (default 6,12,24,48)")
        group.add_argument("--ud-optimizer", default="sgd,adam", help="optimisers, comma-separated (default sgd,adam)")
        group.add_argument("--ud-lr", type=float, default=DEFAULT_LR,
                           help=f"learning rate of the one step (default {DEFAULT_LR:g})")

    def run(self, subject, options=None) -> UpdateDepthResult:
        o = self.options(options)
        s = D.stack_options(o, default_seeds=3)
        return probe(subject, depths=o["ud_depths"], optimizers=o["ud_optimizer"], seeds=s["seeds"], seed=o["seed"],
                     lr=o["ud_lr"], d_model=s["d_model"], n_heads=s["n_heads"], d_ff=s["d_ff"], batch=s["batch"],
                     tokens=s["tokens"], dtype=o["dtype"], device=o["device"])

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        r = result
        verdict = ", ".join(f"{o}: {r.verdict[o]}" for o in r.optimizers)
        key = ", ".join(f"{o} {r.slope[o]:+.3f} ± {r.slope_se[o]:.3f}" for o in r.optimizers)
        with_theory = [o for o in r.optimizers if r.theory_slope.get(o) is not None]
        theory = ", ".join(f"{o} {r.theory_slope[o]:g}" for o in with_theory) or "—"
        agrees = (None if not with_theory else
                  all(D.slope_agrees(r.theory_slope[o], r.verdict[o], r.tolerance[o]) for o in with_theory))
        return Summary(verdict, "slope " + key, theory if theory == "—" else "slope " + theory, agrees)


PROBE = UpdateDepthProbe()
