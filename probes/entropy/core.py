"""The entropy probe itself: the softmax gate, P1–P3 on a subject, and its :class:`EntropyResult`."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from probes._lazy import lazy_import
from probes.entropy import verdicts as V
from probes.entropy.measure import measure_noise, needle_flat
from probes.entropy.theory_rows import theory_row
from probes.entropy.verdicts import (DELTAS, FADE_DELTA, SIGMA, TRAIN_N, classify_entropy, classify_needle,
                                     fit_entropy_curve)
from probes.entropy.weights import (APPLIED_POSITIONS, UNAPPLIED_POSITIONS, WeightsFunction, _Named, from_normalizer,
                                    weights_function, without_position)
from probes.errors import InputError, check_finite
from probes.result import Result

th = lazy_import("theory.entropy")

__all__ = ["EntropyResult", "gate", "probe"]


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
    from probes.designs.tags import find_role

    names = set()
    spec = getattr(subject, "zoo_spec", None)
    if isinstance(subject, str):
        from probes.designs.zoo import parse

        spec = parse(subject)
    if spec is not None and spec.position in APPLIED_POSITIONS + UNAPPLIED_POSITIONS:
        names.add(spec.position)
    module = getattr(subject, "module", subject)
    if isinstance(module, torch.nn.Module):
        names.update(m.name for m in find_role(module, "position") if m.name in APPLIED_POSITIONS + UNAPPLIED_POSITIONS)
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
        meas = measure_noise(wf, ns, rows, d, seed, dtype, device)
        pred = th.MEAN_FIELD.function("H")(np.asarray(ns, dtype=float), 1.0, SIGMA)
        err = [abs(h - p) for n, h, p in zip(ns, meas["H"], pred) if n >= TRAIN_N]
        worst = max(err) if err else float("nan")
        _GATE_CACHE[key] = {"passed": bool(math.isfinite(worst) and worst <= V.GATE_TOL),
                            "max_abs_error": worst, "tol": V.GATE_TOL,
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
        p1 = measure_noise(wf, ns, rows, d, seed, dtype, device)
        flat = {D: [needle_flat(wf, n, D, d, seed, dtype, device) for n in ns] for D in DELTAS}
        nr = needle_rows or (8 if wf.form == "feature-map" else min(rows, 128))
        p3 = (measure_noise(wf, ns, nr, d, seed, dtype, device, needle=FADE_DELTA) if noise_needle
              else {"share": [float("nan")] * len(ns)})
    b, local, dH, _, _ = fit_entropy_curve(ns, p1["H"])
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
