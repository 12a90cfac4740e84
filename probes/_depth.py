"""What the three depth probes (gradient-depth, update-depth, collapse) share.

* **Subjects.** A depth probe needs a *stack factory*: it builds the design at several depths,
  each time with the design's own initialisation. It accepts a zoo stack name
  (:data:`probes.designs.stacks.STACKS`), a callable ``make(n_layers=...) -> nn.Module``, an import
  path ``file.py:make`` / ``package.module:make`` naming such a callable, or an audit
  :class:`~probes.designs.loading.Subject` built from one of those. The factory is called with
  ``n_layers=L`` under ``torch.manual_seed(seed)`` (torch's global RNG, restored afterwards), so a
  factory that relies on ``nn.Linear``'s default init is reproducible; a factory that also takes a
  ``seed`` argument gets the probe's seed passed. The audit's generic randomiser
  is never applied: for these probes the initialisation *is* the design (DeepNorm's β gains, Xavier
  scales). An attention design of the zoo, a bare module, or a factory without ``n_layers`` is
  :class:`~probes.errors.NotApplicable`.
* **Layers.** The blocks are ``module.blocks`` (or the first ``nn.ModuleList``/``nn.Sequential``
  whose length is ``n_layers``). A block's FFN output matrix W² is ``block.ffn_out`` (an
  ``nn.Linear`` or a weight), else the last ``nn.Linear`` registered in the block. A block may
  return a tensor or a tuple of tensors (several streams, e.g. ResiDual's). An optional
  ``module.placement`` in ``post``/``pre``/``deepnorm``/``residual`` gives the theory column.
* **Slopes and verdicts.** Every slope is a least-squares fit of ln y on ln x per seed; the
  reported slope is the seed mean and SE its standard error. The verdict is ``flat`` when
  |slope| ≤ tol, else ``grows``/``shrinks``, with tol = max(3·SE, 0.25): three standard errors,
  never finer than 0.25, half the smallest non-zero rate these theories tell apart (½).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from probes._threads import one_thread
from probes.errors import InputError, NotApplicable, check_finite

__all__ = ["SLOPE_Z", "SLOPE_RESOLUTION", "SLOPE_VERDICTS", "StackSource", "stack_source", "find_blocks",
           "ffn_out", "Task", "make_task", "Recorder", "fit_slopes", "classify", "parse_depths",
           "add_stack_arguments", "stack_options", "one_thread", "loglog_plot", "INIT_NOTE", "applicable",
           "slope_agrees", "SMOKE"]

SLOPE_Z = 3.0
SLOPE_RESOLUTION = 0.25
SLOPE_VERDICTS = ("flat", "grows", "shrinks")
PLACEMENTS = ("post", "pre", "deepnorm", "residual")
# tiny stack settings for the probe-contract test (probes.contract.Probe.smoke_options)
SMOKE = {"depth_seeds": 2, "depth_d_model": 16, "depth_heads": 2, "depth_batch": 2, "depth_tokens": 4}
INIT_NOTE = ("parameters: the design's own initialisation from the probe's seeds (the audit's generic "
             "randomiser is not applied: for the depth probes the initialisation is part of the design)")




# -- subjects ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackSource:
    """How to build the subject at depth L from a seed: ``make(L, seed)`` → module (dtype, device, eval)."""

    name: str
    kind: str                     # "zoo-stack" | "factory"
    make: Callable[[int, int], nn.Module]
    placement: str | None
    d_model: int
    d_ff: int | None              # known for zoo stacks (r = d_ff/d enters the theory)
    settings: dict


def _accepts_n_layers(fn) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "n_layers" in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def _eval_mode(module: nn.Module) -> nn.Module:
    module.eval()
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return module


def _factory_source(name: str, fn: Callable, *, dtype, device, d_model: int | None) -> StackSource:
    if not _accepts_n_layers(fn):
        raise NotApplicable(f"design {name!r}: the depth probes build the stack at several depths, so the factory "
                            "must take an `n_layers` argument (e.g. `def make(n_layers=6): ...`); this one does not")

    try:
        takes_seed = "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_seed = False

    def make(n_layers: int, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            try:
                module = fn(n_layers=int(n_layers), seed=int(seed)) if takes_seed else fn(n_layers=int(n_layers))
            except Exception as exc:
                raise InputError(f"design {name!r}: the factory raised {type(exc).__name__} at n_layers={n_layers}: "
                                 f"{exc}") from exc
        if not isinstance(module, nn.Module):
            raise InputError(f"design {name!r}: the factory returned {type(module).__name__}, not a torch.nn.Module")
        return _eval_mode(module.to(device=device, dtype=dtype))

    from probes.designs.loading import _infer_d_model

    probe_module = make(2, 0)
    width = _infer_d_model(probe_module, d_model)
    from probes.designs.tags import tags_of

    placement = tags_of(probe_module).placement or getattr(probe_module, "placement", None)
    if placement is not None and placement not in PLACEMENTS:
        placement = None
    return StackSource(name, "factory", make, placement, width, None, {})


def stack_source(subject, *, dtype=torch.float64, device="cpu", d_model: int = 64, n_heads: int = 4,
                 d_ff: int | None = None, setting: str = "standard") -> StackSource:
    """The stack factory behind ``subject`` (see the module docstring), or :class:`NotApplicable`.

    ``setting`` (zoo stacks only): ``"standard"`` (Xavier Q/K, ``n_heads`` heads, W^O, d_ff = 4d unless
    given) or ``"xiong"`` (Xiong et al.'s analysis: one head, W^Q = W^K = 0, no W^O, d_ff = d).
    """
    from probes.designs.loading import Subject, import_factory
    from probes.designs.stacks import STACKS, build_stack

    if setting not in ("standard", "xiong"):
        raise InputError(f"setting {setting!r}: use 'standard' or 'xiong'")
    if isinstance(subject, Subject):
        tags = subject.tags
        if subject.kind == "zoo" and tags.family == "stack":
            subject = tags.stack
        elif subject.kind == "factory":
            return _factory_source(subject.name, import_factory(subject.name), dtype=dtype, device=device,
                                   d_model=subject.d_model)
        else:
            what = f"zoo attention design {subject.name!r}" if subject.kind == "zoo" else f"{subject.kind} {subject.name!r}"
            raise NotApplicable(f"{what} is not a depth stack: the depth probes rebuild the design at several depths "
                                f"with its own initialisation; use a zoo stack ({', '.join(STACKS)}) or a factory "
                                "file.py:make whose make(n_layers=...) builds the stack")
    if isinstance(subject, str):
        if subject in STACKS:
            spec = STACKS[subject]
            if setting == "xiong":
                kw = dict(d_model=d_model, n_heads=1, d_ff=d_model if d_ff is None else d_ff, uniform_attention=True,
                          out_proj=False)
            else:
                kw = dict(d_model=d_model, n_heads=n_heads, d_ff=d_ff)
            width_ff = kw["d_ff"] if kw.get("d_ff") is not None else 4 * d_model

            def make(n_layers: int, seed: int, _name=subject, _kw=kw) -> nn.Module:
                return build_stack(_name, n_layers=n_layers, seed=seed, dtype=dtype, device=device, **_kw)

            return StackSource(subject, "zoo-stack", make, spec.placement, d_model, width_ff,
                               {"setting": setting, **{k: v for k, v in kw.items() if k != "d_model"}, "d_ff": width_ff})
        if ":" in subject:
            return _factory_source(subject, import_factory(subject), dtype=dtype, device=device, d_model=None)
        from probes.designs.zoo import parse

        parse(subject)  # an unknown name is an InputError naming the bad part
        raise NotApplicable(f"zoo attention design {subject!r} is not a depth stack; the depth probes need one of "
                            f"{', '.join(STACKS)} or a factory taking n_layers")
    if isinstance(subject, nn.Module):
        raise NotApplicable(f"{type(subject).__name__}: a built module has one depth; pass its factory "
                            "(a callable taking n_layers) so the probe can build it at several depths")
    if callable(subject):
        return _factory_source(getattr(subject, "__name__", "factory"), subject, dtype=dtype, device=device,
                               d_model=None)
    raise InputError(f"depth probes take a zoo stack name, a factory or an import path, got {type(subject).__name__}")


def find_blocks(module: nn.Module, n_layers: int, name: str) -> nn.Module:
    """The per-layer blocks (``module.blocks`` or the first container of length ``n_layers``)."""
    blocks = getattr(module, "blocks", None)
    if isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks) == n_layers:
        return blocks
    for m in module.modules():
        if isinstance(m, (nn.ModuleList, nn.Sequential)) and len(m) == n_layers and m is not module:
            return m
    raise NotApplicable(f"design {name!r}: built with n_layers={n_layers}, it has no nn.ModuleList of {n_layers} "
                        "blocks (expose them as `.blocks`)")


def ffn_out(block: nn.Module) -> tuple[torch.Tensor, str]:
    """W² of a block: ``block.ffn_out`` (a Linear or a weight), else its last registered ``nn.Linear``."""
    target = getattr(block, "ffn_out", None)
    if isinstance(target, nn.Linear):
        return target.weight, "block.ffn_out.weight"
    if isinstance(target, torch.Tensor):
        return target, "block.ffn_out"
    linears = [(n, m) for n, m in block.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise NotApplicable(f"block {type(block).__name__} has no nn.Linear and no `ffn_out`: no FFN matrix to "
                            "measure")
    n, m = linears[-1]
    return m.weight, f"block.{n}.weight (last nn.Linear; set `ffn_out` to choose)"


# -- the task -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    x: torch.Tensor        # (batch, tokens, d) ~ N(0, I)
    readout: torch.Tensor  # (classes, d), Xavier
    labels: torch.Tensor   # (batch, tokens), uniform over classes

    def loss(self, features: torch.Tensor) -> torch.Tensor:
        logits = features @ self.readout.T
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.labels.reshape(-1))


def make_task(d: int, seed: int, *, batch: int, tokens: int, classes: int, dtype, device) -> Task:
    """Gaussian inputs, a Xavier readout and random labels (Xiong et al.'s setting), from ``seed``."""
    gen = torch.Generator().manual_seed(10_000 + int(seed))
    x = torch.randn(batch, tokens, d, generator=gen, dtype=torch.float64)
    w = torch.randn(classes, d, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / (d + classes))
    y = torch.randint(0, classes, (batch, tokens), generator=gen)
    return Task(x.to(device=device, dtype=dtype), w.to(device=device, dtype=dtype), y.to(device))


# -- what happens inside a forward pass ------------------------------------------------------------
def _is_norm(m: nn.Module) -> bool:
    return isinstance(m, (nn.LayerNorm, nn.RMSNorm)) or type(m).__name__.lower().endswith("norm")


class Recorder:
    """Forward hooks: every block's output streams (detached) and the input of the last norm called."""

    def __init__(self, module: nn.Module, blocks: nn.Module):
        self.streams: list[tuple[torch.Tensor, ...]] = []
        self.last_norm_input: torch.Tensor | None = None
        self._handles = [b.register_forward_hook(self._block) for b in blocks]
        self._handles += [m.register_forward_pre_hook(self._norm) for m in module.modules() if _is_norm(m)]

    def _block(self, _mod, _inp, out):
        outs = out if isinstance(out, (tuple, list)) else (out,)
        self.streams.append(tuple(o.detach() for o in outs if isinstance(o, torch.Tensor)))

    def _norm(self, _mod, inp):
        if inp and isinstance(inp[0], torch.Tensor):
            self.last_norm_input = inp[0].detach()

    def close(self):
        for h in self._handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def by_stream(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """{"h": [h_0 = x, h_1, …]} (+ "dual" for a second stream, "s2", … beyond), one entry per layer."""
        if not self.streams:
            return {"h": [x]}
        width = min(len(s) for s in self.streams)
        names = ["h", "dual"] + [f"s{i}" for i in range(2, width)]
        return {names[i]: [x] + [s[i] for s in self.streams] for i in range(width)}


# -- slopes and verdicts -------------------------------------------------------------------------------
def fit_slopes(xs, ys_by_seed) -> tuple[float, float, list[float]]:
    """Per-seed least-squares slopes of ln y on ln x; (mean, standard error, per-seed)."""
    lx = np.log(np.asarray(xs, dtype=float))
    slopes = [float(np.polyfit(lx, np.log(np.asarray(ys, dtype=float)), 1)[0]) for ys in ys_by_seed]
    se = float(np.std(slopes, ddof=1) / math.sqrt(len(slopes))) if len(slopes) > 1 else float("nan")
    return float(np.mean(slopes)), se, slopes


def classify(slope: float, se: float) -> tuple[str, float]:
    """(``flat``/``grows``/``shrinks``, tolerance) with tol = max(SLOPE_Z·SE, SLOPE_RESOLUTION)."""
    tol = max(SLOPE_Z * se, SLOPE_RESOLUTION)
    if abs(slope) <= tol:
        return "flat", tol
    return ("grows" if slope > 0 else "shrinks"), tol


def check_all_finite(design: str, quantity: str, values) -> None:
    check_finite(design, quantity, np.asarray(values, dtype=float))


def parse_depths(value, *, minimum: int = 1, what: str = "depths") -> tuple[int, ...]:
    """``"6,12,24"`` or a sequence → sorted distinct ints ≥ ``minimum`` (at least two)."""
    if isinstance(value, str):
        try:
            items = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError as exc:
            raise InputError(f"{what} {value!r}: give comma-separated integers, e.g. 6,12,24,48") from exc
    else:
        try:
            items = [int(v) for v in value]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} {value!r}: give integers") from exc
    out = tuple(sorted(set(items)))
    if len(out) < 2 or out[0] < minimum:
        raise InputError(f"{what} {value!r}: need at least two distinct values ≥ {minimum} to fit a slope")
    return out


def check_seeds(seeds: int) -> int:
    if not isinstance(seeds, (int, np.integer)) or seeds < 2:
        raise InputError(f"seeds={seeds!r}: the slope's standard error needs at least 2 seeds")
    return int(seeds)


def check_positive(name: str, value) -> float:
    try:
        val = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}={value!r}: give a positive number") from exc
    if not math.isfinite(val) or val <= 0:
        raise InputError(f"{name}={value!r}: must be finite and > 0")
    return val


# -- CLI ---------------------------------------------------------------------------------------------
def add_stack_arguments(group) -> None:
    """The options the three depth probes share, added to ``group`` once (whichever depth probe comes first)."""
    if any(getattr(a, "dest", None) == "depth_d_model" for a in group._actions):
        return
    g = group
    g.add_argument("--depth-d-model", type=int, default=64, help="width of zoo stacks (default 64; all depth probes)")
    g.add_argument("--depth-heads", type=int, default=4, help="heads of zoo stacks (default 4)")
    g.add_argument("--depth-d-ff", type=int, default=None, help="FFN width of zoo stacks (default 4·d)")
    g.add_argument("--depth-seeds", type=int, default=None,
                   help="seeds per depth (default: 4 gradient-depth, 3 update-depth and collapse)")
    g.add_argument("--depth-batch", type=int, default=8, help="sequences per batch (default 8)")
    g.add_argument("--depth-tokens", type=int, default=32, help="tokens per sequence (default 32)")


def applicable(subject) -> tuple[bool, str]:
    """Whether ``subject`` (an audit Subject) is a stack the depth probes can rebuild at several depths.

    From its tags (a zoo stack) or, for a factory, from its signature (it must take ``n_layers``); nothing is built.
    """
    from probes.designs.loading import Subject, import_factory
    from probes.designs.stacks import STACKS

    if not isinstance(subject, Subject):
        return False, f"the depth probes audit a loaded design, not a {type(subject).__name__}"
    if subject.kind == "zoo" and subject.tags.family == "stack":
        return True, ""
    if subject.kind == "factory" and _accepts_n_layers(import_factory(subject.name)):
        return True, ""
    what = (f"zoo attention design {subject.name!r}" if subject.kind == "zoo" else f"{subject.kind} {subject.name!r}")
    return False, (f"{what} is not a depth stack: the depth probes rebuild the design at several depths with its "
                   f"own initialisation; use a zoo stack ({', '.join(STACKS)}) or a factory file.py:make whose "
                   "make(n_layers=...) builds the stack")


def slope_agrees(theory_slope: float | None, verdict: str, tol: float) -> bool | None:
    """Whether the theory's slope gets the measured ``verdict`` under the same tolerance (None: no theory slope)."""
    if theory_slope is None:
        return None
    return classify(theory_slope, tol / SLOPE_Z)[0] == verdict


def stack_options(options: dict, default_seeds: int) -> dict:
    o = options or {}
    return {"d_model": int(o.get("depth_d_model") or 64), "n_heads": int(o.get("depth_heads") or 4),
            "d_ff": o.get("depth_d_ff"), "seeds": int(o.get("depth_seeds") or default_seeds),
            "batch": int(o.get("depth_batch") or 8), "tokens": int(o.get("depth_tokens") or 32)}


def loglog_plot(path, series: dict, *, title: str, xlabel: str, ylabel: str, guides: dict | None = None,
                xlog: bool = True):
    """One log–log plot (``xlog=False``: log y only): ``series`` label → (xs, ys); ``guides`` label → slope
    (dashed, through the first series' first point)."""
    from probes import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8), dpi=120)
    first = None
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, "o-", ms=3, label=label)
        first = first or (xs, ys)
    ax.set_yscale("log")
    if xlog:
        ax.set_xscale("log")
    if guides and first is not None:
        x0, y0 = float(first[0][0]), float(first[1][0])
        xs = np.asarray(first[0], dtype=float)
        for label, slope in guides.items():
            if slope is None or not math.isfinite(slope):
                continue
            ax.plot(xs, y0 * (xs / x0) ** slope, "--", lw=1, color="gray", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return plotting.save(fig, path, legend=ax)
