"""Attention normalisers: logits (..., n_q, n_k) and a boolean mask -> weights.

``mask`` is ``True`` where a query may see a key (``None``: all). ``t`` below is
the number of keys a query sees (its row of the mask), ``n`` the sequence length.

| name      | weight w_ij                                    | source |
|-----------|------------------------------------------------|--------|
| softmax   | e^{x_ij} / Σ_j e^{x_ij}                         | Vaswani et al. 2017 |
| softmax1  | e^{x_ij} / (1 + Σ_j e^{x_ij})                   | Miller 2023, "Attention Is Off By One" |
| relu2     | relu(x_ij)² / n                                 | Hua et al. 2022 (GAU); Su, kexue.fm/archives/9019 |
| sigmoid   | σ(x_ij − ln n)                                  | Ramapuram et al. 2024, arXiv 2409.04431 |
| l2        | e^{x_ij} / √(Σ_j e^{2 x_ij})                    | Su, kexue.fm/archives/9105 (remedy 3) |
| exp       | e^{x_ij} (no denominator)                       | Su, kexue.fm/archives/9105 (remedy 2) |
| logn      | softmax(log₅₁₂(t) · x)                           | Su, kexue.fm/archives/8823 |
| ssmax     | softmax(s_h · ln(t) · x), s_h learnable per head | Nakanishi 2025, arXiv 2501.19399 |
| clipped   | clip((ζ−γ)·softmax(x) + γ, 0, 1), γ=−0.025, ζ=1 | Bondarenko et al. 2023, arXiv 2306.12929 |

Every normaliser is an ``nn.Module`` with ``forward(logits, mask)``; the
``row_normalised`` flag says whether rows sum to one by construction.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["NORMALIZERS", "Normalizer", "make_normalizer", "keys_seen"]


def keys_seen(mask: torch.Tensor | None, n_q: int, n_k: int, like: torch.Tensor) -> torch.Tensor:
    """t per query row, shaped (n_q, 1), in the dtype of ``like``."""
    if mask is None:
        return torch.full((n_q, 1), float(n_k), dtype=like.dtype, device=like.device)
    return mask.sum(-1, keepdim=True).to(like.dtype)


def _masked(x: torch.Tensor, mask: torch.Tensor | None, fill: float) -> torch.Tensor:
    return x if mask is None else x.masked_fill(~mask, fill)


class Normalizer(nn.Module):
    role = "normalizer"  # the tag probes find normalisers by (probes.designs.tags.find_role)
    name = "base"
    row_normalised = False

    def forward(self, logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def extra_repr(self) -> str:
        return self.name


class Softmax(Normalizer):
    name, row_normalised = "softmax", True

    def forward(self, logits, mask):
        return torch.softmax(_masked(logits, mask, float("-inf")), dim=-1)


class Softmax1(Normalizer):
    name = "softmax1"

    def forward(self, logits, mask):
        x = _masked(logits, mask, float("-inf"))
        m = x.amax(-1, keepdim=True).clamp_min(0.0)  # stable: the "1" is e^{0}
        e = torch.exp(x - m)
        return e / (torch.exp(-m) + e.sum(-1, keepdim=True))


class ReLU2(Normalizer):
    name = "relu2"

    def forward(self, logits, mask):
        n = logits.shape[-1]
        return _masked(torch.relu(logits) ** 2, mask, 0.0) / n


class Sigmoid(Normalizer):
    name = "sigmoid"

    def forward(self, logits, mask):
        n = logits.shape[-1]
        return _masked(torch.sigmoid(logits - math.log(n)), mask, 0.0)


class L2(Normalizer):
    name = "l2"

    def forward(self, logits, mask):
        x = _masked(logits, mask, float("-inf"))
        m = x.amax(-1, keepdim=True)
        e = torch.exp(x - m)
        return e / torch.sqrt((e * e).sum(-1, keepdim=True))


class Exp(Normalizer):
    name = "exp"

    def forward(self, logits, mask):
        return _masked(torch.exp(logits), mask, 0.0)


class LogN(Normalizer):
    name, row_normalised = "logn", True

    def forward(self, logits, mask):
        t = keys_seen(mask, logits.shape[-2], logits.shape[-1], logits)
        scale = torch.log(t) / math.log(512.0)
        return torch.softmax(_masked(logits * scale, mask, float("-inf")), dim=-1)


class SSMax(Normalizer):
    name, row_normalised = "ssmax", True

    def __init__(self, n_heads: int, s_init: float = 0.43):
        super().__init__()
        self.s = nn.Parameter(torch.full((n_heads, 1, 1), float(s_init), dtype=torch.float64))

    def randomize_(self, gen: torch.Generator) -> None:
        """s stays positive: s = 0.43·e^{0.3 z}, z ~ N(0, 1)."""
        with torch.no_grad():
            self.s.copy_(0.43 * torch.exp(0.3 * torch.randn(self.s.shape, generator=gen, dtype=torch.float64)))

    def forward(self, logits, mask):
        t = keys_seen(mask, logits.shape[-2], logits.shape[-1], logits)
        scale = self.s.to(logits) * torch.log(t)
        return torch.softmax(_masked(logits * scale, mask, float("-inf")), dim=-1)


class Clipped(Normalizer):
    name = "clipped"

    def __init__(self, gamma: float = -0.025, zeta: float = 1.0):
        super().__init__()
        self.gamma, self.zeta = gamma, zeta

    def forward(self, logits, mask):
        p = torch.softmax(_masked(logits, mask, float("-inf")), dim=-1)
        w = torch.clamp((self.zeta - self.gamma) * p + self.gamma, 0.0, 1.0)
        return _masked(w, mask, 0.0)


NORMALIZERS = {c.name: c for c in (Softmax, Softmax1, ReLU2, Sigmoid, L2, Exp, LogN, SSMax, Clipped)}


def make_normalizer(name: str, n_heads: int) -> Normalizer:
    cls = NORMALIZERS[name]
    return cls(n_heads) if cls is SSMax else cls()


class ShiftSSMax(Normalizer):
    """softmax(x − s·ln t): a mis-transcribed "SSMax" (the shift, not the multiplier).

    By shift invariance this is plain softmax for every s; the entropy probe and
    the SSMax claims use it as the negative control that must be caught.
    """

    name, row_normalised = "shiftssmax", True

    def __init__(self, n_heads: int = 1, s_init: float = 0.43):
        super().__init__()
        self.s = nn.Parameter(torch.full((n_heads, 1, 1), float(s_init)))

    def forward(self, logits, mask):
        t = keys_seen(mask, logits.shape[-2], logits.shape[-1], logits)
        shifted = logits - self.s.to(logits) * torch.log(t)
        return torch.softmax(_masked(shifted, mask, float("-inf")), dim=-1)


NORMALIZERS[ShiftSSMax.name] = ShiftSSMax
