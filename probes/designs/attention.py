"""Attention layers and the pre-LN stack every zoo design is built from.

* :class:`Attention` — multi-head attention with a pluggable normaliser
  (``normalizers.py``) and position encoding (``positions.py``):
  w = N(q kᵀ/√d_h + bias) [⊙ C]; o = w v [+ Σ_j w_ij a^V_{j−i}].
* :class:`DiffAttention` — Ye et al. 2024, arXiv 2410.05258, Eq. 1–3:
  (softmax(Q₁K₁ᵀ/√d) − λ softmax(Q₂K₂ᵀ/√d)) V, λ = e^{λq₁·λk₁} − e^{λq₂·λk₂} + λ_init,
  per-head RMSNorm then × (1 − λ_init), λ_init = 0.8 − 0.6 e^{−0.3 l} (l = 0-based depth).
* :class:`LinearAttention` — Katharopoulos et al. 2020, arXiv 2006.16236, Eq. 6:
  w_ij = φ(q_i)·φ(k_j) / Σ_j φ(q_i)·φ(k_j), φ = elu + 1 (the normalised fast-weight form).
* :class:`Design` — embedding-free pre-LN stack: (batch, n, d_model) → (batch, n, d_model),
  x ← x + Attn(LN x); x ← x + FFN(LN x); final LN.

Every attention layer exposes ``weights(x)`` → (batch, heads, n, n), the weights
protocol probes that look at the attention map use.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from probes.designs.normalizers import Normalizer, make_normalizer
from probes.designs.positions import Position, make_position

__all__ = ["Attention", "DiffAttention", "LinearAttention", "Design", "causal_mask"]


def causal_mask(n: int, device) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class _Heads(nn.Module):
    role = "attention"           # the tag probes find attention layers by (probes.designs.tags.find_role)
    attention_kind = "standard"  # standard | diff | linear

    def __init__(self, d_model: int, n_heads: int, causal: bool):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head, self.causal = d_model, n_heads, d_model // n_heads, causal

    def split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, -1).transpose(1, 2)

    def merge(self, x):
        b, h, n, dh = x.shape
        return x.transpose(1, 2).reshape(b, n, h * dh)

    def mask(self, n, device):
        return causal_mask(n, device) if self.causal else None


class Attention(_Heads):
    def __init__(self, d_model, n_heads, normalizer: Normalizer, position: Position, causal: bool):
        super().__init__(d_model, n_heads, causal)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.normalizer, self.position = normalizer, position

    def _qkv(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.split(q), self.split(k), self.split(v)

    def _weights(self, q, k):
        n = q.shape[-2]
        q, k = self.position.rotate(q, k)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        bias = self.position.logit_bias(q, n)
        if bias is not None:
            logits = logits + bias
        w = self.normalizer(logits, self.mask(n, q.device))
        mult = self.position.weight_multiplier(n, w)
        return w if mult is None else w * mult

    def weights(self, x):
        q, k, _ = self._qkv(x)
        return self._weights(q, k)

    def forward(self, x):
        q, k, v = self._qkv(x)
        w = self._weights(q, k)
        o = w @ v
        extra = self.position.value_term(w)
        if extra is not None:
            o = o + extra
        return self.out(self.merge(o))


class DiffAttention(_Heads):
    attention_kind = "diff"

    def __init__(self, d_model, n_heads, position: Position, causal: bool, depth: int = 0):
        super().__init__(d_model, n_heads, causal)
        if self.d_head % 2:
            raise ValueError("DiffAttention needs an even head dimension")
        self.half = self.d_head // 2
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.position = position
        self.lambda_init = 0.8 - 0.6 * math.exp(-0.3 * depth)
        self.lq1 = nn.Parameter(torch.randn(self.half) * 0.1)
        self.lk1 = nn.Parameter(torch.randn(self.half) * 0.1)
        self.lq2 = nn.Parameter(torch.randn(self.half) * 0.1)
        self.lk2 = nn.Parameter(torch.randn(self.half) * 0.1)
        self.head_norm = nn.RMSNorm(self.d_head, eps=1e-5, elementwise_affine=True)
        self.softmax = make_normalizer("softmax", n_heads)

    def randomize_(self, gen: torch.Generator) -> None:
        """λ vectors re-drawn from N(0, 0.1²), the initialisation of Ye et al. 2024 (§2.1)."""
        with torch.no_grad():
            for p in (self.lq1, self.lk1, self.lq2, self.lk2):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))

    def lam(self):
        return torch.exp(self.lq1 @ self.lk1) - torch.exp(self.lq2 @ self.lk2) + self.lambda_init

    def _maps(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self.split(q), self.split(k), self.split(v)
        q1, q2 = q[..., : self.half], q[..., self.half:]
        k1, k2 = k[..., : self.half], k[..., self.half:]
        q1, k1 = self.position.rotate(q1, k1)
        q2, k2 = self.position.rotate(q2, k2)
        mask = self.mask(n, x.device)
        bias = self.position.logit_bias(q1, n)
        l1 = q1 @ k1.transpose(-1, -2) / math.sqrt(self.half)
        l2 = q2 @ k2.transpose(-1, -2) / math.sqrt(self.half)
        if bias is not None:
            l1, l2 = l1 + bias, l2 + bias
        return self.softmax(l1, mask), self.softmax(l2, mask), v

    def weights(self, x):
        a1, a2, _ = self._maps(x)
        return a1 - self.lam().to(a1.dtype) * a2

    def forward(self, x):
        a1, a2, v = self._maps(x)
        o = (a1 - self.lam().to(a1.dtype) * a2) @ v
        o = self.head_norm(o) * (1.0 - self.lambda_init)
        return self.out(self.merge(o))


class LinearAttention(_Heads):
    attention_kind = "linear"

    def __init__(self, d_model, n_heads, position: Position, causal: bool, eps: float = 1e-6):
        super().__init__(d_model, n_heads, causal)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.position, self.eps = position, eps

    @staticmethod
    def phi(x):
        return torch.nn.functional.elu(x) + 1.0

    def _qkv(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.phi(self.split(q)), self.phi(self.split(k)), self.split(v)

    def weights(self, x):
        q, k, _ = self._qkv(x)
        a = q @ k.transpose(-1, -2)
        mask = self.mask(a.shape[-1], x.device)
        if mask is not None:
            a = a.masked_fill(~mask, 0.0)
        return a / (a.sum(-1, keepdim=True) + self.eps)

    def forward(self, x):
        q, k, v = self._qkv(x)
        if self.causal:  # the fast-weight recurrence, as running sums: S_i = Σ_{j≤i} φ(k_j) v_jᵀ
            s = torch.cumsum(k.unsqueeze(-1) * v.unsqueeze(-2), dim=2)  # (b, h, n, dh, dh)
            z = torch.cumsum(k, dim=2)
            num = torch.einsum("bhnd,bhnde->bhne", q, s)
            den = (q * z).sum(-1, keepdim=True)
        else:
            num = q @ (k.transpose(-1, -2) @ v)
            den = q @ k.sum(-2, keepdim=True).transpose(-1, -2)
        return self.out(self.merge(num / (den + self.eps)))


class _FFN(nn.Module):
    def __init__(self, d_model, mult=4):
        super().__init__()
        self.up, self.down = nn.Linear(d_model, mult * d_model), nn.Linear(mult * d_model, d_model)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


class _Block(nn.Module):
    def __init__(self, d_model, attn):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d_model), attn
        self.ln2, self.ffn = nn.LayerNorm(d_model), _FFN(d_model)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class Design(nn.Module):
    """A pre-LN stack of ``n_layers`` blocks around one attention kind.

    ``attention`` is ``"standard"``, ``"diff"`` or ``"linear"``; ``normalizer`` and
    ``position`` are names from the zoo tables. The absolute encodings add their
    term to the input once, as in the original Transformer.
    """

    def __init__(self, name: str, *, d_model: int = 32, n_heads: int = 4, n_layers: int = 2,
                 normalizer: str = "softmax", position: str = "nope", attention: str = "standard",
                 causal: bool = False, max_len: int = 256, input_position: str | None = None):
        super().__init__()
        self.name, self.d_model, self.n_heads, self.n_layers = name, d_model, n_heads, n_layers
        self.normalizer_name, self.position_name, self.attention_kind = normalizer, position, attention
        self.causal, self.max_len, self.input_position_name = causal, max_len, input_position
        from probes.designs.positions import POSITIONS

        layer_is_input = POSITIONS[position].kind == "input"
        in_name = input_position or (position if layer_is_input else "nope")
        self.input_position = make_position(in_name, d_model, n_heads, max_len, causal)
        layer_position = "nope" if layer_is_input else position
        layers = []
        for depth in range(n_layers):
            pos = make_position(layer_position, d_model, n_heads, max_len, causal)
            if attention == "standard":
                attn = Attention(d_model, n_heads, make_normalizer(normalizer, n_heads), pos, causal)
            elif attention == "diff":
                attn = DiffAttention(d_model, n_heads, pos, causal, depth=depth)
            elif attention == "linear":
                attn = LinearAttention(d_model, n_heads, pos, causal)
            else:
                raise ValueError(f"unknown attention kind {attention!r}")
            layers.append(_Block(d_model, attn))
        self.blocks = nn.ModuleList(layers)
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{self.name}: expected input (batch, n, {self.d_model}), got {tuple(x.shape)}")
        term = self.input_position.input_term(x.shape[1], x)
        if term is not None:
            x = x + term
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)

    def attention_weights(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Weights of every layer, (batch, heads, n, n) each, on the input ``x``."""
        out = []
        term = self.input_position.input_term(x.shape[1], x)
        if term is not None:
            x = x + term
        for blk in self.blocks:
            out.append(blk.attn.weights(blk.ln1(x)))
            x = blk(x)
        return out

    @property
    def tags(self):
        """What this design is (:class:`probes.designs.tags.Tags`): zoo name, normaliser, positions, mask, C ≡ 1."""
        from probes.designs.tags import Tags, find_role
        from probes.designs.normalizers import NORMALIZERS
        from probes.designs.positions import POSITIONS

        positions = list(find_role(self, "position"))
        kinds = {p.kind for p in positions if p.kind != "none"} or {"none"}
        ones = [c for c in (p.multiplier_is_one() for p in positions) if c is not None]
        norm = self.normalizer_name if self.attention_kind == "standard" else None
        return Tags(family="attention", zoo=self.name, attention=self.attention_kind, normalizer=norm,
                    row_normalised=None if norm is None else bool(NORMALIZERS[norm].row_normalised),
                    position=self.position_name, input_position=self.input_position_name,
                    position_kinds=tuple(sorted(kinds)), position_symmetric=bool(POSITIONS[self.position_name].symmetric),
                    causal=bool(self.causal), c_is_one=(all(ones) if ones else None))

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, attention={self.attention_kind}, normalizer={self.normalizer_name}, "
                f"position={self.position_name}, causal={self.causal}")
