"""Depth stacks: where the normalisation goes, and how the residual branches are initialised.

Every stack maps (batch, n, d_model) → (batch, n, d_model) through ``n_layers`` blocks of
two sub-layers, softmax attention (no position encoding, bidirectional; the zoo's
:class:`~probes.designs.attention.Attention` with bias-free projections) and a ReLU FFN
(W¹: d → d_ff, W²: d_ff → d, no biases). ``G`` below is a sub-layer (attention or FFN),
``N`` the number of layers, norms are affine-free with ε = 0 unless stated.

| name               | sub-layer update                                 | init gain (FFN, V, O)  | source |
|--------------------|--------------------------------------------------|------------------------|--------|
| ``postln``         | x ← LN(x + G(x))                                 | 1 (Xavier)             | Vaswani et al. 2017; Xiong et al. 2020, arXiv 2002.04745 |
| ``preln``          | x ← x + G(LN x); final LN                        | 1                      | Xiong et al. 2020 |
| ``rmsnorm-preln``  | x ← x + G(RMS x); final RMSNorm                  | 1                      | Zhang & Sennrich 2019, arXiv 1910.07467 |
| ``deepnorm``       | x ← LN(αx + G(x)), α = (2N)^{1/4}                | β = (8N)^{−1/4}        | Wang et al. 2022 (DeepNet), arXiv 2203.00555, §3 |
| ``deepnorm-su-sgd``| x ← LN(αx + G(x)), α = (2N)^{1/4}                | λ = (2N)^{−1/4}        | Su 2022, kexue.fm/archives/8978 (SGD) |
| ``deepnorm-su-adam``| x ← LN(αx + G(x)), α = (2N)^{1/2}               | λ = (2N)^{−1/2}        | Su 2022 (Adam) |
| ``deepnorm-su-lamb``| x ← LN(x + G(x)) (α = 1)                        | λ = (2N)^{−1/2}        | Su 2022 (LAMB) |
| ``residual``       | x ← LN(x + G(x)), dual y ← y + G(x); out x + LN(y)| 1                      | Xie et al. 2023 (ResiDual), arXiv 2304.14802 |

The α and β/λ formulas are the theory's (:mod:`theory.update_depth`, derivation
``deepnorm-constants``), not typed here. Weights are Xavier-normal, std = gain·√(2/(fan_in +
fan_out)); W^Q and W^K always get gain 1 (``uniform_attention=True`` zeroes them: Xiong's
setting, uniform attention). The initialisation *is* the design here: the depth probes build
each stack with :func:`build_stack` and never apply the audit's generic randomiser.

Every stack exposes ``blocks`` (one module per layer, each with ``ffn_out``, the W² linear
map), ``hidden_states(x)`` → {stream: [h_0, …, h_N]} and ``attention_weights(x)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from probes._lazy import lazy_import
from probes.designs.attention import Attention
from probes.designs.normalizers import make_normalizer
from probes.designs.positions import make_position
from probes.errors import InputError

theory = lazy_import("theory.update_depth")

__all__ = ["STACKS", "StackSpec", "Stack", "build_stack", "stack_spec", "PLACEMENTS"]

PLACEMENTS = ("post", "pre", "deepnorm", "residual")


@dataclass(frozen=True)
class StackSpec:
    """A named stack: norm placement, norm kind and the names of its constants in the theory."""

    name: str
    placement: str            # post | pre | deepnorm | residual
    norm: str = "layer"       # layer | rms
    constants: str | None = None  # prefix of the theory's alpha/beta predictions (deepnorm rows)
    source: str = ""


STACKS: dict[str, StackSpec] = {s.name: s for s in (
    StackSpec("postln", "post", source="Xiong et al. 2020, arXiv 2002.04745"),
    StackSpec("preln", "pre", source="Xiong et al. 2020, arXiv 2002.04745"),
    StackSpec("rmsnorm-preln", "pre", norm="rms", source="Zhang & Sennrich 2019, arXiv 1910.07467"),
    StackSpec("deepnorm", "deepnorm", constants="paper", source="Wang et al. 2022, arXiv 2203.00555, §3"),
    StackSpec("deepnorm-su-sgd", "deepnorm", constants="su_sgd", source="Su 2022, kexue.fm/archives/8978"),
    StackSpec("deepnorm-su-adam", "deepnorm", constants="su_adam", source="Su 2022, kexue.fm/archives/8978"),
    StackSpec("deepnorm-su-lamb", "deepnorm", constants="su_lamb", source="Su 2022, kexue.fm/archives/8978"),
    StackSpec("residual", "residual", source="Xie et al. 2023, arXiv 2304.14802; microsoft/ResiDual"),
)}


def stack_spec(name: str) -> StackSpec:
    if name not in STACKS:
        raise InputError(f"unknown stack {name!r}; choose from {', '.join(STACKS)}")
    return STACKS[name]


def constants(spec: StackSpec, n_layers: int) -> tuple[float, float]:
    """(α, gain) of ``spec`` at depth N = ``n_layers``, from the theory's predictions."""
    if spec.constants is None:
        return 1.0, 1.0
    d = theory.DEEPNORM
    return (float(d.predict(f"alpha_{spec.constants}", N=n_layers)),
            float(d.predict(f"beta_{spec.constants}", N=n_layers)))


def _norm(kind: str, d: int, eps: float) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(d, eps=eps, elementwise_affine=False)
    if kind == "rms":
        return nn.RMSNorm(d, eps=eps, elementwise_affine=False)
    raise InputError(f"norm {kind!r}: use 'layer' or 'rms'")


class FFN(nn.Module):
    """ReLU(x W¹) W², no biases (Xiong et al. 2020, §3.1)."""

    def __init__(self, d: int, d_ff: int):
        super().__init__()
        self.up = nn.Linear(d, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d, bias=False)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


class StackBlock(nn.Module):
    """One layer: an attention and an FFN sub-layer, combined as the placement says."""

    def __init__(self, placement: str, norm: str, d: int, n_heads: int, d_ff: int, alpha: float, eps: float,
                 out_proj: bool, detach_branch_input: bool = False):
        super().__init__()
        self.placement, self.alpha, self.detach_branch_input = placement, float(alpha), detach_branch_input
        attn = Attention(d, n_heads, make_normalizer("softmax", n_heads), make_position("nope", d, n_heads, 1 << 30,
                                                                                          False), False)
        attn.qkv = nn.Linear(d, 3 * d, bias=False)
        attn.out = nn.Linear(d, d, bias=False) if out_proj else nn.Identity()
        self.attn, self.ffn = attn, FFN(d, d_ff)
        self.norm1, self.norm2 = _norm(norm, d, eps), _norm(norm, d, eps)

    @property
    def ffn_out(self) -> nn.Linear:
        """W² of the FFN: the matrix Xiong et al.'s Theorem 1 bounds."""
        return self.ffn.down

    def attn_input(self, x):
        return self.norm1(x) if self.placement == "pre" else x

    def _in(self, x):
        """A branch's input; detached (a diagnostic, not a design) when the branch must not pass gradients down."""
        return x.detach() if self.detach_branch_input else x

    def forward(self, x, dual=None):
        if self.placement == "pre":
            x = x + self.attn(self._in(self.norm1(x)))
            return x + self.ffn(self._in(self.norm2(x)))
        if self.placement == "residual":
            g = self.attn(self._in(x))
            dual = dual + g
            x = self.norm1(x + g)
            g = self.ffn(self._in(x))
            return self.norm2(x + g), dual + g
        a = self.alpha
        x = self.norm1(a * x + self.attn(self._in(x)))
        return self.norm2(a * x + self.ffn(self._in(x)))


class Stack(nn.Module):
    """``n_layers`` blocks with the placement and constants of a :class:`StackSpec` (see the module table)."""

    def __init__(self, spec: StackSpec, *, n_layers: int, d_model: int = 64, n_heads: int = 4, d_ff: int | None = None,
                 eps: float = 0.0, uniform_attention: bool = False, out_proj: bool = True,
                 detach_branch_input: bool = False):
        super().__init__()
        if n_layers < 1:
            raise InputError(f"n_layers={n_layers}: a stack needs at least one layer")
        if d_model % n_heads:
            raise InputError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.spec, self.name, self.placement = spec, spec.name, spec.placement
        self.d_model, self.n_heads, self.n_layers = d_model, n_heads, n_layers
        self.d_ff = 4 * d_model if d_ff is None else int(d_ff)
        self.alpha, self.gain = constants(spec, n_layers)
        self.uniform_attention, self.eps = uniform_attention, eps
        self.detach_branch_input = detach_branch_input
        self.blocks = nn.ModuleList(StackBlock(spec.placement, spec.norm, d_model, n_heads, self.d_ff, self.alpha, eps,
                                               out_proj, detach_branch_input) for _ in range(n_layers))
        self.final_norm = _norm(spec.norm, d_model, eps) if spec.placement in ("pre", "residual") else None

    @property
    def tags(self):
        """What this stack is (:class:`probes.designs.tags.Tags`): placement, norm kind, softmax attention."""
        from probes.designs.tags import tags_of_spec
        from probes.designs.zoo import parse

        return tags_of_spec(parse(self.name))

    # -- initialisation: the design's own ------------------------------------------------
    def init_(self, seed: int) -> "Stack":
        """Xavier-normal weights from ``seed``; FFN, V and O get the stack's gain, Q and K gain 1 (or 0)."""
        gen = torch.Generator().manual_seed(int(seed))
        d = self.d_model

        def xavier(shape, gain):
            fan_out, fan_in = shape
            std = gain * math.sqrt(2.0 / (fan_in + fan_out))
            return torch.randn(shape, generator=gen, dtype=torch.float64) * std

        with torch.no_grad():
            for blk in self.blocks:
                qk_gain = 0.0 if self.uniform_attention else 1.0
                w = torch.cat([xavier((d, d), qk_gain), xavier((d, d), qk_gain), xavier((d, d), self.gain)])
                blk.attn.qkv.weight.copy_(w.to(blk.attn.qkv.weight))
                if isinstance(blk.attn.out, nn.Linear):
                    blk.attn.out.weight.copy_(xavier((d, d), self.gain).to(blk.attn.out.weight))
                blk.ffn.up.weight.copy_(xavier((self.d_ff, d), self.gain).to(blk.ffn.up.weight))
                blk.ffn.down.weight.copy_(xavier((d, self.d_ff), self.gain).to(blk.ffn.down.weight))
        return self

    # -- forward -----------------------------------------------------------------------------
    def _check(self, x):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{self.name}: expected input (batch, n, {self.d_model}), got {tuple(x.shape)}")

    def hidden_states(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """The residual stream(s) after every layer, h_0 = x first: {"h": [...]}; ResiDual also {"dual": [...]}."""
        self._check(x)
        hs, duals, dual = [x], [x], x
        for blk in self.blocks:
            if self.placement == "residual":
                x, dual = blk(x, dual)
                duals.append(dual)
            else:
                x = blk(x)
            hs.append(x)
        return {"h": hs, "dual": duals} if self.placement == "residual" else {"h": hs}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        streams = self.hidden_states(x)
        x = streams["h"][-1]
        if self.placement == "residual":
            return x + self.final_norm(streams["dual"][-1])
        return self.final_norm(x) if self.final_norm is not None else x

    def attention_weights(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Weights of every layer, (batch, heads, n, n) each, on the input ``x``."""
        streams = self.hidden_states(x)
        return [blk.attn.weights(blk.attn_input(h)) for blk, h in zip(self.blocks, streams["h"][:-1])]

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, placement={self.placement}, norm={self.spec.norm}, N={self.n_layers}, "
                f"alpha={self.alpha:.4g}, gain={self.gain:.4g}, d_ff={self.d_ff}, eps={self.eps:g}"
                + (", branch inputs detached" if self.detach_branch_input else ""))


def build_stack(name: str, *, n_layers: int = 6, d_model: int = 64, n_heads: int = 4, d_ff: int | None = None,
                seed: int | None = 0, dtype: torch.dtype = torch.float64, device="cpu", eps: float = 0.0,
                uniform_attention: bool = False, out_proj: bool = True, detach_branch_input: bool = False) -> Stack:
    """Stack ``name`` at depth ``n_layers`` with its own initialisation drawn from ``seed`` (None: seed 0).

    ``detach_branch_input`` is a diagnostic, not a design: every branch reads a detached copy of its
    input, so gradients reach lower layers through the residual path and the norms only (the forward
    pass is unchanged). It removes the branch gain that cancels the LN factor in Post-LN
    (theory.gradient_depth, ``xiong-appF-cancellation``).
    """
    model = Stack(stack_spec(name), n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_ff=d_ff, eps=eps,
                  uniform_attention=uniform_attention, out_proj=out_proj, detach_branch_input=detach_branch_input)
    model.init_(0 if seed is None else seed)
    return model.to(device=device, dtype=dtype).eval()
