"""The zoo: reference attention designs by short name.

Name grammar: ``[normaliser+]position[-causal]`` or ``diff|linear[+position][-causal]``,
e.g. ``rope``, ``alibi-causal``, ``softmax1+alibi``, ``relu2-causal``, ``diff-causal``;
an absolute encoding may be added to a relative one (``abs+rope``: sinusoidal input term, RoPE in attention).
A lone normaliser name means that normaliser without positions (``softmax1-causal``).
:data:`ZOO` lists the canonical entries the probe benchmark runs; any name the
grammar accepts can be built.

Depth stacks (``postln``, ``preln``, ``rmsnorm-preln``, ``deepnorm``, ``deepnorm-su-sgd``,
``deepnorm-su-adam``, ``deepnorm-su-lamb``, ``residual``; :data:`STACKS`, see
:mod:`probes.designs.stacks`) are built by name too. Their attention is plain softmax
without positions; what differs is where the norm goes and how the branches are
initialised, and that initialisation is part of the design: ``build(name, seed=s)``
draws it from ``s`` with the stack's own initialiser, not :func:`randomize_parameters`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from probes.designs.attention import Design
from probes.designs.normalizers import NORMALIZERS
from probes.designs.positions import POSITIONS
from probes.designs.stacks import STACKS, build_stack
from probes.errors import InputError

__all__ = ["ZOO", "STACKS", "Spec", "parse", "build", "randomize_parameters"]

WHOLE = ("diff", "linear")

ZOO: tuple[str, ...] = (
    # positions under softmax, both masks
    "nope", "nope-causal", "abs", "abs-causal", "learned", "learned-causal",
    "rope", "rope-causal", "alibi", "alibi-causal", "t5", "t5-causal",
    "shaw", "shaw-causal", "urpe", "urpe-causal",
    # normalisers without positions, both masks
    "softmax1", "softmax1-causal", "relu2", "relu2-causal", "sigmoid", "sigmoid-causal",
    "l2", "l2-causal", "exp", "exp-causal", "logn", "logn-causal", "ssmax", "ssmax-causal",
    "clipped", "clipped-causal",
    # combinations that matter for a theorem
    "softmax1+alibi", "softmax1+rope", "relu2+t5", "logn+rope-causal",
    # whole designs
    "diff", "diff-causal", "diff+rope-causal", "linear", "linear-causal",
)


@dataclass(frozen=True)
class Spec:
    name: str
    normalizer: str
    position: str
    attention: str
    causal: bool
    input_position: str | None = None  # an absolute encoding added to the input as well ("abs+rope")
    stack: str | None = None  # a depth stack (probes.designs.stacks.STACKS): its name


def parse(name: str) -> Spec:
    """Parse a zoo name; raise :class:`InputError` naming the bad part."""
    if not isinstance(name, str) or not name:
        raise InputError("design name must be a non-empty string")
    if name in STACKS:
        return Spec(name, "softmax", "nope", "standard", False, None, name)
    body, causal = (name[: -len("-causal")], True) if name.endswith("-causal") else (name, False)
    parts = body.split("+")
    norm, pos, attn, inp = "softmax", "nope", "standard", None
    for part in parts:
        if part in WHOLE:
            attn = part
        elif part in NORMALIZERS:
            norm = part
        elif part in POSITIONS and POSITIONS[part].kind == "input":
            inp = part
        elif part in POSITIONS:
            pos = part
        else:
            raise InputError(
                f"unknown zoo design {name!r}: {part!r} is not a normaliser ({', '.join(NORMALIZERS)}), "
                f"a position ({', '.join(POSITIONS)}) or a whole design ({', '.join(WHOLE)}), and {name!r} is "
                f"not a depth stack ({', '.join(STACKS)}); see `attnprobe zoo`")
    if attn != "standard" and norm != "softmax":
        raise InputError(f"{name!r}: {attn} attention has its own normaliser; drop {norm!r}")
    if inp is not None and pos == "nope":
        pos, inp = inp, None  # a lone absolute encoding is the design's position
    return Spec(name, norm, pos, attn, causal, inp)


def build(name: str, *, d_model: int = 32, n_heads: int = 4, n_layers: int = 2, max_len: int = 256,
          seed: int | None = 0, dtype: torch.dtype = torch.float64) -> Design:
    """Build zoo design ``name``; with a ``seed``, all parameters are re-drawn from it.

    A depth stack is built with its own initialisation drawn from ``seed`` (None: seed 0).
    """
    spec = parse(name)
    if spec.stack is not None:
        return build_stack(spec.stack, n_layers=n_layers, d_model=d_model, n_heads=n_heads, seed=seed, dtype=dtype)
    model = Design(name, d_model=d_model, n_heads=n_heads, n_layers=n_layers, normalizer=spec.normalizer,
                   position=spec.position, attention=spec.attention, causal=spec.causal, max_len=max_len,
                   input_position=spec.input_position)
    model = model.to(dtype)
    if seed is not None:
        randomize_parameters(model, seed)
    return model.eval()


def randomize_parameters(module: nn.Module, seed: int) -> nn.Module:
    """Re-draw every parameter of ``module`` from ``seed`` (in place; returns it).

    A module's own ``randomize_(generator)`` is used where it has one (URPE's C is
    drawn around 1, not around 0); otherwise matrices get N(0, 1/fan_in), gains
    1 + N(0, 0.1²), and biases and tables N(0, 0.5²). A symmetric init can hide
    a design's power (URPE with C ≡ 1 *is* an RPE), so audits start here.
    """
    gen = torch.Generator().manual_seed(int(seed))
    done: set[int] = set()
    for mod in module.modules():
        if hasattr(mod, "randomize_") and callable(mod.randomize_):
            mod.randomize_(gen)
            done.update(id(p) for p in mod.parameters(recurse=False))
    with torch.no_grad():
        for name, p in module.named_parameters():
            if id(p) in done:
                continue
            leaf = name.rsplit(".", 1)[-1]
            if p.dim() >= 2:
                new = torch.randn(p.shape, generator=gen, dtype=torch.float64) / (p.shape[-1] ** 0.5)
            elif leaf == "weight":  # norm gains
                new = 1.0 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            else:
                new = 0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(new.to(device=p.device, dtype=p.dtype))
    return module
