"""Position encodings, each acting at one place of attention.

| name      | acts on                   | form                                           | source |
|-----------|---------------------------|------------------------------------------------|--------|
| nope      | nothing                   | —                                              | Haviv et al. 2022; Kazemnejad et al. 2023 |
| abs       | the input                 | x_i + PE_sin(i)                                 | Vaswani et al. 2017 |
| learned   | the input                 | x_i + P_i (learned table)                       | Devlin et al. 2019 |
| rope      | q and k                   | q_i → R_i q_i, k_j → R_j k_j                     | Su et al. 2021, arXiv 2104.09864 |
| alibi     | the logits                | −m_h·|i−j|                                      | Press et al. 2022, arXiv 2108.12409 |
| t5        | the logits                | b_h(bucket(j−i)), learned                       | Raffel et al. 2020, §2.1 |
| shaw      | logits and values         | q_i·a^K_{j−i}; o_i += Σ_j w_ij a^V_{j−i}         | Shaw et al. 2018, arXiv 1803.02155 |
| urpe      | logits and weights        | (softmax(x + B) ⊙ C), B and C Toeplitz          | Luo et al. 2022, arXiv 2205.13401, Eq. 8 |

Each encoding is an ``nn.Module`` with optional hooks used by
:class:`probes.designs.attention.Attention`: ``input_term(n)``, ``rotate(q, k)``,
``logit_bias(q, n)``, ``weight_multiplier(n)`` and ``value_term(w)``. ``kind``
names where it acts ("none", "input", "logit", "value", "weight").
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["POSITIONS", "make_position", "Position"]


def _offsets(n: int, device) -> torch.Tensor:
    """j − i for query i (rows) and key j (columns)."""
    idx = torch.arange(n, device=device)
    return idx[None, :] - idx[:, None]


class Position(nn.Module):
    role = "position"  # the tag probes find position terms by (probes.designs.tags.find_role)
    name = "nope"
    kind = "none"
    symmetric = True  # does the position term treat offset δ and −δ alike?

    def __init__(self, d_model: int, n_heads: int, max_len: int, causal: bool):
        super().__init__()
        self.d_model, self.n_heads, self.max_len, self.causal = d_model, n_heads, max_len, causal

    def _check_len(self, n: int) -> None:
        if n > self.max_len:
            from probes.errors import InputError

            raise InputError(f"{self.name}: sequence length {n} exceeds max_len {self.max_len}; "
                             "build the design with a larger max_len")

    # hooks; the defaults do nothing
    def input_term(self, n: int, like: torch.Tensor):
        return None

    def rotate(self, q: torch.Tensor, k: torch.Tensor):
        return q, k

    def logit_bias(self, q: torch.Tensor, n: int):
        return None

    def weight_multiplier(self, n: int, like: torch.Tensor):
        return None

    def value_term(self, w: torch.Tensor):
        return None

    # one query row i of a length-n input, (H, n), without building the n × n table (used by the
    # entropy probe at n up to 2^16); None where the term is absent or depends on q (Shaw)
    row_max_len = None  # the longest n the row hooks accept (None: any)

    def logit_bias_row(self, i: int, n: int, like: torch.Tensor):
        return None

    def weight_multiplier_row(self, i: int, n: int, like: torch.Tensor):
        return None

    def multiplier_is_one(self) -> bool | None:
        """Whether the weight multiplier is identically 1 (None: the term has no multiplier)."""
        return None

    def randomize_(self, gen: torch.Generator) -> None:
        """Re-draw this module's own parameters (called by ``randomize_parameters``)."""
        for p in self.parameters(recurse=False):
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)


class NoPE(Position):
    name, kind = "nope", "none"


class Sinusoidal(Position):
    name, kind, symmetric = "abs", "input", False

    def input_term(self, n, like):
        self._check_len(n)
        pos = torch.arange(n, dtype=like.dtype, device=like.device)[:, None]
        i = torch.arange(0, self.d_model, 2, dtype=like.dtype, device=like.device)
        ang = pos / torch.pow(torch.tensor(10000.0, dtype=like.dtype, device=like.device), i / self.d_model)
        pe = torch.zeros(n, self.d_model, dtype=like.dtype, device=like.device)
        pe[:, 0::2] = torch.sin(ang)
        pe[:, 1::2] = torch.cos(ang[:, : self.d_model // 2])
        return pe


class Learned(Position):
    name, kind, symmetric = "learned", "input", False

    def __init__(self, d_model, n_heads, max_len, causal):
        super().__init__(d_model, n_heads, max_len, causal)
        self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def input_term(self, n, like):
        self._check_len(n)
        return self.table[:n].to(like)


class RoPE(Position):
    name, kind, symmetric = "rope", "logit", False

    def rotate(self, q, k):
        n, dh = q.shape[-2], q.shape[-1]
        half = dh // 2
        inv = 1.0 / (10000.0 ** (torch.arange(half, dtype=q.dtype, device=q.device) / half))
        ang = torch.arange(n, dtype=q.dtype, device=q.device)[:, None] * inv[None, :]
        cos, sin = torch.cos(ang), torch.sin(ang)

        def rot(x):
            x1, x2 = x[..., :half], x[..., half: 2 * half]
            out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
            return torch.cat([out, x[..., 2 * half:]], dim=-1)

        return rot(q), rot(k)


class ALiBi(Position):
    name, kind, symmetric = "alibi", "logit", True

    def slopes(self, like):
        h = self.n_heads
        return torch.tensor([2.0 ** (-8.0 * (i + 1) / h) for i in range(h)], dtype=like.dtype, device=like.device)

    def logit_bias(self, q, n):
        dist = _offsets(n, q.device).abs().to(q.dtype)
        return -self.slopes(q)[:, None, None] * dist

    def logit_bias_row(self, i, n, like):
        dist = (torch.arange(n, device=like.device) - i).abs().to(like.dtype)
        return -self.slopes(like)[:, None] * dist[None, :]


class T5Bias(Position):
    name, kind, symmetric = "t5", "logit", False

    def __init__(self, d_model, n_heads, max_len, causal, num_buckets: int = 32, max_distance: int = 128):
        super().__init__(d_model, n_heads, max_len, causal)
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.table = nn.Parameter(torch.zeros(num_buckets, n_heads))

    def buckets(self, n, device):
        return self._bucket(_offsets(n, device))  # memory − query = j − i

    def _bucket(self, rel):
        nb = self.num_buckets
        if not self.causal:
            nb //= 2
            ret = (rel > 0).long() * nb
            rel = rel.abs()
        else:
            ret = torch.zeros_like(rel)
            rel = (-rel).clamp_min(0)
        max_exact = nb // 2
        is_small = rel < max_exact
        large = max_exact + (torch.log(rel.float().clamp_min(1) / max_exact)
                             / math.log(self.max_distance / max_exact) * (nb - max_exact)).long()
        large = large.clamp_max(nb - 1)
        return ret + torch.where(is_small, rel, large)

    def logit_bias(self, q, n):
        b = self.table.to(q)[self.buckets(n, q.device)]  # (n, n, H)
        return b.permute(2, 0, 1)

    def logit_bias_row(self, i, n, like):
        rel = torch.arange(n, device=like.device) - i
        return self.table.to(like)[self._bucket(rel)].T  # (H, n)


class _Toeplitz(Position):
    """A learned per-head table indexed by the clipped offset j − i."""

    def _table_lookup(self, table, n, like):
        self._check_len(n)
        off = _offsets(n, like.device) + (self.max_len - 1)
        return table.to(like)[:, off]  # (H, n, n)

    def _table_row(self, table, i, n, like):
        self._check_len(n)
        return table.to(like)[:, torch.arange(n, device=like.device) - i + (self.max_len - 1)]  # (H, n)


class Shaw(_Toeplitz):
    name, kind, symmetric = "shaw", "value", False

    def __init__(self, d_model, n_heads, max_len, causal, clip: int = 16):
        super().__init__(d_model, n_heads, max_len, causal)
        self.clip = clip
        dh = d_model // n_heads
        self.key_emb = nn.Parameter(torch.randn(2 * clip + 1, dh) * 0.02)
        self.value_emb = nn.Parameter(torch.randn(2 * clip + 1, dh) * 0.02)

    def _idx(self, n, device):
        return _offsets(n, device).clamp(-self.clip, self.clip) + self.clip

    def logit_bias(self, q, n):
        a_k = self.key_emb.to(q)[self._idx(n, q.device)]  # (n, n, dh)
        return torch.einsum("bhid,ijd->bhij", q, a_k) / math.sqrt(q.shape[-1])

    def value_term(self, w):
        n = w.shape[-1]
        a_v = self.value_emb.to(w)[self._idx(n, w.device)]
        return torch.einsum("bhij,ijd->bhid", w, a_v)


class URPE(_Toeplitz):
    name, kind, symmetric = "urpe", "weight", False

    def __init__(self, d_model, n_heads, max_len, causal):
        super().__init__(d_model, n_heads, max_len, causal)
        self.bias_table = nn.Parameter(torch.zeros(n_heads, 2 * max_len - 1))
        # Luo et al.'s --constant-init-ur-attn: C ≡ 1 at init, i.e. exactly RPE until trained.
        self.c_table = nn.Parameter(torch.ones(n_heads, 2 * max_len - 1))

    def logit_bias(self, q, n):
        return self._table_lookup(self.bias_table, n, q)

    def weight_multiplier(self, n, like):
        return self._table_lookup(self.c_table, n, like)

    @property
    def row_max_len(self):
        return self.max_len

    def logit_bias_row(self, i, n, like):
        return self._table_row(self.bias_table, i, n, like)

    def weight_multiplier_row(self, i, n, like):
        return self._table_row(self.c_table, i, n, like)

    def multiplier_is_one(self) -> bool:
        return bool(torch.all(self.c_table == 1))

    def randomize_(self, gen):
        with torch.no_grad():
            self.bias_table.copy_(torch.randn(self.bias_table.shape, generator=gen) * 0.5)
            self.c_table.copy_(1.0 + torch.randn(self.c_table.shape, generator=gen) * 0.5)


POSITIONS = {c.name: c for c in (NoPE, Sinusoidal, Learned, RoPE, ALiBi, T5Bias, Shaw, URPE)}


def make_position(name: str, d_model: int, n_heads: int, max_len: int, causal: bool) -> Position:
    return POSITIONS[name](d_model, n_heads, max_len, causal)
