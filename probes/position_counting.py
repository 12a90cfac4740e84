"""Position-counting probe (Su 2022, kexue.fm/archives/9105; Luo et al. 2022, arXiv 2205.13401).

Feed n copies of one token; can the design output 1..n?

(a) **Exact check** (float64, eval mode, parameters randomised by the caller):
    spread  = max_i ‖y_i − y_1‖∞ / max|y|        (zero iff every position agrees)
    mirror  = max_i ‖y_i − y_{n+1−i}‖∞ / max|y|  (zero under the reflection lemma)
    and the spread of the identical tokens after a distinct first token (``bos``)
    and inside ``[CLS] x…x [SEP]`` (``cls-sep``).
(b) **Trainable check**: train the design plus a linear readout for a few hundred
    Adam steps to map the identical input to standardised 1..n; report the
    eval-mode FVU = MSE / Var(1..n) (min over seeds) and its MSE beside the theory
    floor (FVU 1, least MSE and best constant from :mod:`theory.position_counting`).

No verdict from NaN/Inf: a design whose output on a probe input, or whose trained
loss, FVU or readout, is not finite raises :class:`probes.errors.Diverged` naming
the design and the quantity.

The theory row (:func:`theory_row`) comes from :func:`theory.position_counting.predict`
given where the design's position terms act (``kind``/``symmetric`` of
:mod:`probes.designs.positions`); each rule it applies cites its checked step.

Thresholds (relative spreads): ``zero`` means round-off, ≤ 1e-10 in float64 and
≤ 1e-5 in float32; ``non-zero`` means ≥ 1e-3; in between the exact check is
inconclusive and the trainable check decides (FVU < 0.5 → can count). An extra
input *rescues* a design when its spread exceeds ``zero`` and is at least 100×
the design's own identical-token spread (its numerical noise).

Verdict (Su's probe itself: identical tokens, no special tokens):
``cannot-count`` | ``mirror-only`` | ``can-count``; ``rescued_by`` is separate.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from probes.contract import Probe, Summary
from probes.errors import InputError, check_finite
from probes._lazy import lazy_import
from probes._threads import one_thread
from probes.result import Result

theory = lazy_import("theory.position_counting")

__all__ = ["VERDICTS", "ExactCheck", "PositionCountingResult", "exact_check", "trainable_check", "probe",
           "JSON_KEY", "thresholds", "theory_row", "PositionCountingProbe", "PROBE", "markdown", "write_plots"]

JSON_KEY = "position_counting"
VERDICTS = ("cannot-count", "mirror-only", "can-count")
EXACT_STATES = ("invariant", "mirror-symmetric", "breaks-symmetry", "inconclusive")
NONZERO_TOL = 1e-3
RESCUE_RATIO = 100.0
FVU_LEARNS = 0.5
FLOOR_ROUNDING = 1e-6  # float64 training is deterministic: below floor − this is symmetry breaking, not rounding


def thresholds(dtype: torch.dtype) -> tuple[float, float]:
    """(zero, non-zero) relative-spread thresholds for ``dtype``."""
    zero = {torch.float64: 1e-10, torch.float32: 1e-5}.get(dtype, 1e-2)
    return zero, NONZERO_TOL


@dataclass(frozen=True)
class ExactCheck(Result):
    n: int
    spread: float
    mirror_spread: float
    bos_spread: float
    cls_spread: float
    state: str
    rescued_by: tuple[str, ...]
    zero_tol: float
    nonzero_tol: float


@dataclass(frozen=True)
class PositionCountingResult(Result):
    design: str
    verdict: str
    rescued_by: tuple[str, ...]
    exact: str
    spread: float
    mirror_spread: float
    bos_spread: float
    cls_spread: float
    fvu: float | None
    fvu_by_seed: tuple[float, ...]
    readout: tuple[float, ...]        # the best seed's trained outputs per position (1..n scale), measured
    floor_fvu: float
    floor_mse: float
    floor_constant: float             # theory: the best constant output (n+1)/2
    mse: float | None                 # measured on the 1..n scale, best seed
    n: int
    seed: int
    dtype: str
    device: str
    train_steps: int
    zero_tol: float
    nonzero_tol: float
    theory: dict | None
    agrees_with_theory: bool | None
    notes: tuple[str, ...] = field(default_factory=tuple)




def _rel_spread(y: torch.Tensor, ref: torch.Tensor | None = None) -> float:
    """max_i ‖y_i − ref_i‖∞ / max|y| over finite (n, d) outputs; ref defaults to y_1."""
    scale = y.abs().max()
    if scale == 0:
        return 0.0
    ref = y[:1] if ref is None else ref
    return float(((y - ref).abs().max() / scale).item())


def _tokens(d_model: int, seed: int, dtype, device, count: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(10_000 + int(seed))
    return torch.randn(count, d_model, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)


def _inputs(d_model: int, n: int, seed: int, dtype, device) -> dict[str, tuple[torch.Tensor, slice]]:
    """The three probe inputs and the slice of positions holding the identical tokens."""
    tok = _tokens(d_model, seed, dtype, device)
    x, bos, cls, sep = tok[0], tok[1], tok[2], tok[3]
    same = x.expand(n, d_model)
    return {
        "plain": (same[None], slice(0, n)),
        "bos": (torch.cat([bos[None], same])[None], slice(1, n + 1)),
        "cls-sep": (torch.cat([cls[None], same, sep[None]])[None], slice(1, n + 1)),
    }


def exact_check(module: nn.Module, d_model: int, *, n: int = 16, seed: int = 0,
                dtype: torch.dtype = torch.float64, device="cpu", design: str | None = None) -> ExactCheck:
    """Run the identical-token, BOS and CLS/SEP inputs through ``module`` (as it is).

    A non-finite output raises :class:`Diverged` naming ``design`` (default: the module's class).
    """
    design = design or type(module).__name__
    if n < 2:
        raise InputError(f"n={n}: position counting needs at least 2 positions")
    zero, nonzero = thresholds(dtype)
    module = module.eval()
    outs = {}
    with torch.no_grad(), one_thread(device):
        for key, (inp, sl) in _inputs(d_model, n, seed, dtype, device).items():
            y = module(inp)
            if y.shape != inp.shape:
                raise InputError(f"design output shape {tuple(y.shape)} != input shape {tuple(inp.shape)}")
            check_finite(design, f"output on the {key} probe input (n = {n})", y,
                         where=f"{dtype} on {device}")
            outs[key] = y[0, sl].to(torch.float64)
    y = outs["plain"]
    spread = _rel_spread(y)
    mirror = _rel_spread(y, y.flip(0))
    bos, cls = _rel_spread(outs["bos"]), _rel_spread(outs["cls-sep"])
    check_finite(design, "identical-token spreads", [spread, mirror, bos, cls])
    if spread <= zero:
        state = "invariant"
    elif spread >= nonzero:
        state = "mirror-symmetric" if mirror <= zero else "breaks-symmetry"
    else:
        state = "inconclusive"
    rescued = tuple(k for k, s in (("bos", bos), ("cls-sep", cls)) if s > zero and s >= RESCUE_RATIO * spread)
    return ExactCheck(n, spread, mirror, bos, cls, state, rescued, zero, nonzero)


def trainable_check(module: nn.Module, d_model: int, *, n: int = 16, seeds=(0, 1), steps: int = 300,
                    lr: float = 3e-3, dtype: torch.dtype = torch.float64, device="cpu", extra: str | None = None,
                    rerandomize: bool = True, input_seed: int = 0, return_predictions: bool = False,
                    design: str | None = None):
    """Eval-mode FVU after training a copy of ``module`` + a linear readout, per seed.

    Targets are the standardised positions 1..n of the identical tokens (after a
    first token if ``extra="bos"``, inside [CLS]…[SEP] if ``extra="cls-sep"``).
    Training runs in eval mode (dropout off: dropout alone would break the
    symmetry and fake a pass). With ``rerandomize`` each seed after the first
    re-draws all parameters from ``input_seed + seed``. With ``return_predictions``
    it returns ``(fvus, readout)``, the best seed's outputs on the 1..n scale.
    A non-finite loss, readout or FVU raises :class:`Diverged` naming ``design``.
    """
    fits = _fits(module, d_model, n=n, seeds=seeds, steps=steps, lr=lr, dtype=dtype, device=device, extra=extra,
                 rerandomize=rerandomize, input_seed=input_seed, design=design or type(module).__name__)
    fvus = tuple(f.fvu for f in fits)
    if not return_predictions:
        return fvus
    return fvus, min(fits, key=lambda f: f.fvu).readout


@dataclass(frozen=True)
class _Fit:
    fvu: float                    # MSE / Var(1..n), both measured
    mse: float                    # mean (readout_i − i)² on the 1..n scale
    readout: tuple[float, ...]    # eval-mode outputs per position, 1..n scale


def _fits(module, d_model, *, n, seeds, steps, lr, dtype, device, extra, rerandomize, input_seed, design,
          trained=False):
    key = extra or "plain"
    if key not in ("plain", "bos", "cls-sep"):
        raise InputError(f"extra={extra!r}: use None, 'bos' or 'cls-sep'")
    inp, sl = _inputs(d_model, n, input_seed, dtype, device)[key]
    pos = torch.arange(1, n + 1, dtype=torch.float64)
    mean, std = pos.mean(), pos.std(unbiased=False)
    target = ((pos - mean) / std).to(device=device, dtype=dtype)
    with one_thread(device):
        raw = _train(module, d_model, inp, sl, target, seeds, steps, lr, dtype, device, rerandomize, input_seed,
                     design, trained)
    fits = []
    for s, pred in zip(seeds, raw):
        out = pred * std + mean
        mse = float(torch.mean((out - pos) ** 2))
        fvu = mse / float(pos.var(unbiased=False))
        check_finite(design, f"trained FVU (seed {s})", fvu, where=f"lr {lr:g}, {steps} steps, {dtype}")
        fits.append(_Fit(fvu, mse, tuple(float(v) for v in out)))
    return fits


CHECK_LOSS_EVERY = 25  # training steps between finiteness checks of the loss (each check syncs a GPU)
# trained weights: the readout learns at READOUT_LR on position-standardised features, the model at lr·MODEL_LR_SCALE
READOUT_LR, MODEL_LR_SCALE = 1e-2, 1 / 30


def _standardised(h: torch.Tensor, tol: float) -> torch.Tensor:
    """Each feature centred and scaled over the positions; a feature that varies by at most ``tol`` is dropped.

    A trained model's position signal is a small part of its output next to the common token component, so a
    readout on raw features learns it slowly (MiniLM-size, 300 Adam steps: FVU 1.000); on standardised features
    it is read in a few dozen steps, and what varies less than the exact check's non-zero threshold is not used.
    """
    mu, sd = h.mean(0, keepdim=True), h.std(0, unbiased=False, keepdim=True)
    return torch.where(sd > tol, (h - mu) / sd.clamp_min(tol), torch.zeros_like(h))


def _train(module, d_model, inp, sl, target, seeds, steps, lr, dtype, device, rerandomize, input_seed, design,
           trained=False):
    """The eval-mode readout (standardised scale, float64, CPU) per seed after ``steps`` Adam steps.

    ``trained``: the weights are a trained checkpoint's: the readout reads position-standardised features
    (:func:`_standardised`) at :data:`READOUT_LR` and the model is fine-tuned at ``lr·MODEL_LR_SCALE``.
    """
    tol = thresholds(dtype)[1]
    features = (lambda h: _standardised(h, tol)) if trained else (lambda h: h)
    from probes.designs.zoo import randomize_parameters

    preds = []
    for k, s in enumerate(seeds):
        model = copy.deepcopy(module).to(device=device, dtype=dtype).eval()
        if rerandomize and k > 0:
            randomize_parameters(model, input_seed + int(s))
        gen = torch.Generator().manual_seed(20_000 + int(s))
        readout = nn.Linear(d_model, 1).to(dtype=dtype)
        with torch.no_grad():
            readout.weight.copy_(torch.randn(readout.weight.shape, generator=gen, dtype=torch.float64) / d_model ** 0.5)
            readout.bias.zero_()
        readout = readout.to(device)
        body = [p for p in model.parameters() if p.requires_grad]
        if trained:
            opt = torch.optim.Adam([{"params": list(readout.parameters()), "lr": READOUT_LR},
                                    {"params": body, "lr": lr * MODEL_LR_SCALE}])
        else:
            opt = torch.optim.Adam(body + list(readout.parameters()), lr=lr)
        where = f"seed {s}, lr {lr:g}, {dtype}"
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            pred = readout(features(model(inp)[0, sl])).squeeze(-1)
            loss = torch.mean((pred - target) ** 2)
            if (step + 1) % CHECK_LOSS_EVERY == 0 or step == 0:
                check_finite(design, "training loss", loss, where=f"step {step + 1} of {steps}, {where}")
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = readout(features(model(inp)[0, sl])).squeeze(-1).to(torch.float64)
        check_finite(design, "trained readout", pred, where=f"after {steps} steps, {where}")
        preds.append(pred.cpu())
    return preds


def probe(design, *, n: int = 16, seed: int = 0, dtype: torch.dtype = torch.float64, device="cpu",
          train: bool | str = "auto", steps: int = 300, train_seeds=(0, 1), d_model: int | None = None,
          randomize: bool | None = None) -> PositionCountingResult:
    """Position-counting probe of ``design`` (a zoo name, an import path, a directory, a module or a Subject).

    ``train``: True always runs the trainable check; ``"auto"`` runs it only when the
    exact check is inconclusive; False never (then an inconclusive check reports
    ``cannot-count`` with a note).
    """
    from probes.designs.loading import Subject, load_design

    subject = design if isinstance(design, Subject) else load_design(
        design, randomize=randomize, seed=seed, dtype=dtype, device=device, d_model=d_model)
    ex = exact_check(subject.module, subject.d_model, n=n, seed=seed, dtype=dtype, device=device,
                     design=subject.name)
    notes: list[str] = []
    fits: list[_Fit] = []
    if train is True or (train == "auto" and ex.state == "inconclusive"):
        trained = subject.trained and not subject.randomized
        fits = _fits(subject.module, subject.d_model, n=n, seeds=train_seeds, steps=steps, lr=3e-3, dtype=dtype,
                     device=device, extra=None, rerandomize=subject.randomized, input_seed=seed, design=subject.name,
                     trained=trained)
        if trained:
            notes.append(f"trained weights: the readout read position-standardised features (lr {READOUT_LR:g}; "
                         f"features varying by ≤ {thresholds(dtype)[1]:g} dropped), the model was fine-tuned at lr "
                         f"{3e-3 * MODEL_LR_SCALE:.2g}")
    best = min(fits, key=lambda f: f.fvu) if fits else None
    fvu = None if best is None else best.fvu
    floor_fvu, floor_mse, floor_constant = theory.floor_fvu(n), theory.floor_mse(n), theory.floor_constant(n)
    if ex.state == "invariant":
        verdict = "cannot-count"
    elif ex.state == "mirror-symmetric":
        verdict = "mirror-only"
    elif ex.state == "breaks-symmetry":
        verdict = "can-count"
    elif fvu is not None:
        verdict = "can-count" if fvu < FVU_LEARNS else "cannot-count"
        notes.append(f"exact check inconclusive (spread {ex.spread:.2e} between {ex.zero_tol:g} and "
                     f"{ex.nonzero_tol:g}); verdict from the trainable check (FVU {fvu:.3f})")
    else:
        verdict = "cannot-count"
        notes.append(f"exact check inconclusive (spread {ex.spread:.2e}) and no trainable check was run")
    if ex.state == "inconclusive" and subject.kind.startswith("hf") and dtype == torch.float64:
        notes.append("the model is Hugging Face's: its eager attention computes the softmax in float32 even in a "
                     "float64 model, so round-off of order 1e-7 can put the spread between the exact check's zero "
                     f"({ex.zero_tol:g}) and non-zero ({ex.nonzero_tol:g}) thresholds; that is why the exact check "
                     "is inconclusive here")
    if fvu is not None and verdict == "can-count" and fvu >= FVU_LEARNS:
        notes.append(f"symmetry breaks but {steps} training steps reached only FVU {fvu:.3f}")
    if fvu is not None and verdict != "can-count" and fvu < floor_fvu - FLOOR_ROUNDING:
        notes.append(f"FVU {fvu:.6f} is below the theory floor {floor_fvu:g} for a design that cannot count: "
                     "numerical symmetry breaking (check the dtype)")
    rescued = ex.rescued_by if verdict != "can-count" else ()
    row, agrees = None, None
    tags = subject.tags
    if tags.zoo is not None:
        tr = theory_row(tags)
        row = tr.to_dict()
        row["zoo_equivalent"] = tags.zoo
        agrees = tr.verdict == verdict and (verdict == "can-count" or set(tr.rescued_by) == set(rescued))
    return PositionCountingResult(
        design=subject.name, verdict=verdict, rescued_by=rescued, exact=ex.state, spread=ex.spread,
        mirror_spread=ex.mirror_spread, bos_spread=ex.bos_spread, cls_spread=ex.cls_spread, fvu=fvu,
        fvu_by_seed=tuple(f.fvu for f in fits), readout=() if best is None else best.readout,
        floor_fvu=floor_fvu, floor_mse=floor_mse, floor_constant=floor_constant,
        mse=None if best is None else best.mse, n=n, seed=seed, dtype=str(dtype).replace("torch.", ""),
        device=str(device), train_steps=steps if fits else 0, zero_tol=ex.zero_tol, nonzero_tol=ex.nonzero_tol,
        theory=row, agrees_with_theory=agrees, notes=tuple(notes))


def theory_row(design, module: nn.Module | None = None):
    """The theory row of a zoo design: :func:`theory.position_counting.predict` given the tags it declares
    (:class:`probes.designs.tags.Tags`: normaliser, mask, where its position terms act and whether they are
    symmetric, and whether URPE's C is identically 1).

    ``design``: tags, or a zoo :class:`~probes.designs.zoo.Spec` (then C ≡ 1 is read from ``module`` if given).
    """
    from probes.designs.tags import Tags, tags_of, tags_of_spec

    tags = design if isinstance(design, Tags) else tags_of_spec(design)
    c_is_one = tags.c_is_one if module is None else tags_of(module).c_is_one
    normalizer = tags.normalizer if tags.attention == "standard" else tags.attention
    return theory.predict(normalizer, bool(tags.causal), kinds=tuple(sorted(tags.position_kinds)),
                          symmetric=bool(tags.position_symmetric), c_is_one=bool(c_is_one))


def write_plots(res: PositionCountingResult, out_dir) -> list:
    """``position_counting.png``: the trained readout per position against 1..n and the
    theory's best constant (n+1)/2 that a design which cannot count is held to."""
    if not res.readout:
        return []
    from probes import plotting

    plt = plotting.pyplot()
    pos = list(range(1, res.n + 1))
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.plot(pos, pos, "k--", lw=1, label="target 1..n")
    ax.axhline(res.floor_constant, color="tab:red", lw=1, ls=":", label="floor: best constant (n+1)/2")
    ax.plot(pos, res.readout, "o-", color="tab:blue", ms=4, label=f"trained readout (FVU {res.fvu:.3g})")
    ax.set_xlabel("position i (identical tokens)")
    ax.set_ylabel("output")
    ax.set_title(f"{res.design}: {res.verdict}")
    ax.legend(fontsize=8, loc="upper left")
    return [plotting.save(fig, Path(out_dir) / "position_counting.png")]


def markdown(res: PositionCountingResult) -> str:
    th = res.theory or {}
    lines = ["| quantity | measured | theory |", "|---|---|---|",
             f"| verdict | **{res.verdict}** | {th.get('verdict', 'n/a (no theory row)')} |",
             f"| rescued by | {', '.join(res.rescued_by) or '—'} | {', '.join(th.get('rescued_by', [])) or '—'} |",
             f"| spread (identical tokens) | {res.spread:.3e} | 0 iff cannot count |",
             f"| mirror spread | {res.mirror_spread:.3e} | 0 under the reflection lemma |",
             f"| BOS / CLS-SEP spread | {res.bos_spread:.3e} / {res.cls_spread:.3e} | |",
             f"| FVU (trained, min over seeds) | {'—' if res.fvu is None else f'{res.fvu:.4f}'} | floor {res.floor_fvu:g} |",
             f"| MSE of that fit (1..n scale) | {'—' if res.mse is None else f'{res.mse:.4f}'} | "
             f"floor {res.floor_mse:.4f} |"]
    if th.get("reason"):
        lines.append(f"\nTheory: {th['reason']} (row mass {th.get('row_mass')}).")
        if th.get("basis"):
            lines.append("Checked derivation steps it rests on: "
                         + "; ".join(f"*{b}*" for b in th["basis"]) + ".")
    lines += [f"\nNote: {n}" for n in res.notes]
    return "\n".join(lines)


class PositionCountingProbe(Probe):
    """The position-counting probe under the probe contract (:mod:`probes.contract`)."""

    name, json_key, title, verdicts = "position-counting", JSON_KEY, "position counting (identical tokens)", VERDICTS
    example_design = "urpe"
    smoke_options = {"pc_n": 6, "pc_steps": 5, "pc_train": True}

    def applies_to(self, subject, options=None):
        """Any design that maps (batch, n, d_model) → (batch, n, d_model): the probe feeds it n copies of a token."""
        return super().applies_to(subject, options)

    def add_arguments(self, group) -> None:
        group.add_argument("--pc-n", type=int, default=16, help="number of identical tokens (default 16)")
        group.add_argument("--pc-steps", type=int, default=300, help="Adam steps of the trainable check (default 300)")
        train = group.add_mutually_exclusive_group()
        train.add_argument("--pc-train", action="store_true",
                           help="always run the trainable check (default: only when the exact check is inconclusive)")
        train.add_argument("--pc-no-train", action="store_true", help="never run the trainable check (no FVU)")

    def run(self, subject, options=None) -> PositionCountingResult:
        o = self.options(options)
        return probe(subject, n=o["pc_n"], seed=o["seed"], dtype=o["dtype"], device=o["device"],
                     train=True if o["pc_train"] else (False if o["pc_no_train"] else "auto"), steps=o["pc_steps"])

    def markdown(self, result) -> str:
        return markdown(result)

    def plots(self, result, out_dir) -> list:
        return write_plots(result, out_dir)

    def summary(self, result) -> Summary:
        r, th = result, result.theory or {}
        rescued = f" (rescued by {', '.join(r.rescued_by)})" if r.rescued_by else ""
        th_rescued = f" (rescued by {', '.join(th['rescued_by'])})" if th.get("rescued_by") else ""
        key = f"spread {r.spread:.2e}" + ("" if r.fvu is None else f", FVU {r.fvu:.3f}")
        return Summary(r.verdict + rescued, key, (th["verdict"] + th_rescued) if th else "—", r.agrees_with_theory)


PROBE = PositionCountingProbe()
