"""Capture what a module's attention actually computes, through its own forward pass.

:class:`AttentionCapture` is a :class:`torch.overrides.TorchFunctionMode`. Run a module's
``forward`` inside it and every call of a torch function made from Python passes through
its ``__torch_function__`` first, whatever library wrote the module (a hand-written
``forward``, Hugging Face ``transformers``, x-transformers, attnprobe's zoo). It records,
per attention *site* (one layer's attention, in call order):

* **eager attention**: a matmul-like call (``matmul``/``@``, ``bmm``, ``baddbmm``, a
  two-operand ``einsum``) whose output ends in (n_q, n) over the n keys of the input — the
  *score* — then, before the next one, a matmul that contracts an (…, n_q, n) operand over
  its key axis (``weights @ values``) — the *mix*. The weights are that operand, as the
  module multiplies its values with them: any normaliser (``softmax``, ``sigmoid``, a
  hand-written ``relu(x)**2 / n`` or ``softmax(x * log n / log 512)``), any multiplier
  after it and the mask are included. The first elementwise normaliser-like call in
  between (softmax, sigmoid, relu, exp, …) is named, and its input kept as the logits.
* **``torch.nn.functional.scaled_dot_product_attention``**: SDPA returns no weights, so they
  are computed from the captured arguments by SDPA's own definition,
  softmax(q kᵀ·scale + attn_mask) with scale = 1/√d unless given, a boolean mask meaning
  "may attend", ``is_causal`` the top-left lower triangle and ``enable_gqa`` repeating the key
  heads (torch's documented reference). That is the module's own computation on its own
  q, k and mask, not a substitute.

Why a TorchFunctionMode: it needs no change to the user's code, no per-library hooks and no
knowledge of module names, it sees ``Tensor`` methods and operators as well as ``torch.*``
functions, and it can *replace* a call's result — which is how the probe feeds the module's
own logits → weights map with crafted scores (``inject``): the score call returns crafted
q·k (same shape, unit q, k of the score's contracted width, see :class:`Injection`) and
everything the module does after it (its scale, bias, mask, normaliser) runs as written.
Forward hooks see only module boundaries; ``torch.fx``/``torch.export`` tracing fails on
data-dependent Python and changes what runs; a ``__torch_dispatch__`` mode sees ATen ops
after decomposition (softmax arrives as ``_softmax``, SDPA as one of several kernels).

What it does not see: code that bypasses torch's Python API — C++/CUDA extensions called
through pybind (flash-attn's ``flash_attn_func``, xformers' ``memory_efficient_attention``),
a function compiled by ``torch.compile``/TorchScript, and the *inside* of a Python torch
function that is dispatched as one call. The one such call attention code commonly makes,
``torch.nn.functional.multi_head_attention_forward`` (``nn.MultiheadAttention``), is read from
its arguments instead: the same call with ``need_weights=True, average_attn_weights=False``
returns its per-head weights (torch's own computation). The fused C++ fast path of
``nn.TransformerEncoderLayer`` is turned off by an active mode (it checks
``has_torch_function``), so it falls back to that call. A forward in which no
site was seen raises :class:`probes.errors.NotApplicable` naming what was seen instead.
Hugging Face models whose ``config._attn_implementation`` is not ``eager``/``sdpa`` (flash,
flex) are switched to ``eager`` by :func:`observable` (and the result says so).

Memory: the module materialises its own (…, n, n) scores; the capture keeps only the query
rows it is asked for (``rows``), in float64 on the CPU.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.overrides import TorchFunctionMode

from probes.errors import NotApplicable

__all__ = ["AttentionCapture", "Site", "Injection", "capture", "observable", "MATMUL_LIKE", "NORMALISER_LIKE"]

MATMUL_LIKE = ("matmul", "__matmul__", "bmm", "baddbmm", "einsum")
NORMALISER_LIKE = ("softmax", "_softmax", "sigmoid", "softmin", "relu", "exp", "softplus", "elu", "tanh", "gelu",
                   "silu", "square", "abs")
SDPA = "scaled_dot_product_attention"
MHA = "multi_head_attention_forward"
COMPOSITES = (MHA,)   # Python torch functions dispatched as one call (MHA is read from its arguments, see _mha)


@dataclass
class Site:
    """One attention computation seen in the forward pass (a layer's attention, all heads)."""

    index: int
    kind: str                     # "eager" | "sdpa" | "mha"
    score_op: str                 # the call that made the scores ("matmul", "einsum", "sdpa", ...)
    score_call: int               # its position among the matmul-like/SDPA calls of the pass
    lead: tuple                   # leading dims of the weights (e.g. (batch, heads)); flattened to "heads"
    n_q: int
    n_k: int
    contracted: int               # the score's contracted width c (the head width d_h)
    normaliser: str | None = None  # first normaliser-like call between score and mix (eager) or "softmax" (SDPA)
    weights: torch.Tensor | None = None   # (G, R, n_k) float64 CPU: the selected rows, G = prod(lead)
    logits: torch.Tensor | None = None    # (G, R, n_k) the normaliser's input rows, when seen
    queries: torch.Tensor | None = None   # (G, n_q, c) and (G, n_k, c): the score's operands, all rows, float64 CPU
    keys: torch.Tensor | None = None      # (only with keep_qk; the score is queries @ keysᵀ as the module forms it)
    injected: bool = False
    notes: list = field(default_factory=list)

    @property
    def heads(self) -> int:
        return int(math.prod(self.lead)) if self.lead else 1


@dataclass(frozen=True)
class Injection:
    """Crafted scores for the score calls ``calls`` (their positions, from a plain pass at the same n).

    ``make(site, lead, n_q, n_k, c, like)`` returns raw scores of shape lead + (n_q, n_k) (the
    probe builds them as q·k for unit q, k of width c); the score call returns them (``baddbmm``:
    β·input + α·crafted) and the rest of the module's map runs on them.
    """

    calls: dict            # score_call -> site index
    make: Callable


def _name(func) -> str:
    return getattr(func, "__name__", None) or str(func)


def _op_namespace(func) -> str | None:
    """The namespace of a ``torch.ops`` operator (OpOverload or OpOverloadPacket), else None."""
    qual = getattr(func, "_qualified_op_name", None)
    if isinstance(qual, str) and "::" in qual:
        return qual.split("::")[0]
    ns = getattr(func, "namespace", None)
    return ns if isinstance(ns, str) else None


def _storage(t: torch.Tensor) -> int:
    try:
        return t.untyped_storage().data_ptr()
    except Exception:  # noqa: BLE001 - tensors without storage (meta, some subclasses)
        return id(t)


def _flat(t: torch.Tensor, lead) -> torch.Tensor | None:
    """(…, rows, c) → (G, rows, c) float64 CPU, broadcast to the score's leading dims ``lead``."""
    try:
        t = t.detach().expand(*lead, *t.shape[-2:])
    except RuntimeError:
        return None
    return t.reshape(-1, *t.shape[-2:]).to(device="cpu", dtype=torch.float64)


def _score_operands(name, args, kwargs):
    """(queries (…, n_q, c), keys (…, n_k, c)) of a score call: matmul/bmm a @ b, baddbmm's batch1/batch2,
    or a two-operand einsum with one contracted index; None for other forms."""
    if name == "einsum":
        parts = _einsum_parts(args)
        if parts is None:
            return None
        ins, out, ops, _ = parts
        con = [ch for ch in set(ins[0]) & set(ins[1]) if ch not in out]
        if len(con) != 1:
            return None
        res = []
        for idx in (out[-2], out[-1]):
            hit = [(s, o) for s, o in zip(ins, ops) if idx in s]
            if len(hit) != 1:
                return None
            s, o = hit[0]
            target = "".join(ch for ch in out[:-2] if ch in s) + idx + con[0]
            if set(target) != set(s):
                return None
            res.append(torch.einsum(f"{s}->{target}", o))
        return tuple(res)
    if name == "baddbmm":
        a, b = (args[1], args[2]) if len(args) >= 3 else (kwargs.get("batch1"), kwargs.get("batch2"))
    else:
        a, b = args[0], args[1]
    return a, b.transpose(-1, -2)


def _einsum_parts(args):
    """(input specs, output spec, operands, sizes) of a two-operand einsum with an explicit output; an
    ellipsis is spelled out with unused letters (right-aligned, as einsum broadcasts it). Else None."""
    if not args or not isinstance(args[0], str):
        return None
    eq = args[0].replace(" ", "")
    ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
    if "->" not in eq or len(ops) != 2 or not all(isinstance(o, torch.Tensor) for o in ops):
        return None
    ins, out = eq.split("->")
    ins = ins.split(",")
    if "..." in eq:
        pool = [ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch not in eq]
        extra = [o.dim() - (len(s) - 3) if "..." in s else 0 for s, o in zip(ins, ops)]
        width = max(extra)
        if width < 0 or width > len(pool) or ("..." in out) != (width > 0 or "..." in out):
            return None
        ell = "".join(pool[:width])
        ins = [s.replace("...", ell[width - e:]) for s, e in zip(ins, extra)]
        out = out.replace("...", ell)
    if len(ins) != 2 or any(len(s) != o.dim() for s, o in zip(ins, ops)):
        return None
    sizes = {}
    for s, o in zip(ins, ops):
        for ch, n in zip(s, o.shape):
            sizes[ch] = int(n)
    return ins, out, ops, sizes


class AttentionCapture(TorchFunctionMode):
    """Record (and optionally inject into) the attention sites of one forward pass at key count ``n``.

    ``rows``: the query rows to keep (an index tensor or None for all). ``inject``: an
    :class:`Injection` from a plain pass at the same n.
    """

    def __init__(self, n: int, rows: torch.Tensor | None = None, inject: Injection | None = None,
                 parameters=(), keep_qk: bool = False):
        super().__init__()
        self.n, self.rows, self.inject, self.keep_qk = int(n), rows, inject, keep_qk
        # storages of the module's parameters: a matmul with a weight matrix (x @ W, an MLP of width n) is a
        # projection, never a score or a mix, whatever its shape
        self.param_storage = {_storage(p) for p in parameters}
        self.sites: list[Site] = []
        self.calls = 0                       # matmul-like and SDPA calls so far
        self.pending: Site | None = None     # an eager site with its score seen, waiting for its mix
        self.seen_composites: list[str] = []
        self.seen_custom: list[str] = []

    # -- helpers -------------------------------------------------------------------
    def _select(self, t: torch.Tensor, n_q: int) -> torch.Tensor:
        """Rows of t (…, n_q, n) → (G, R, n) float64 on the CPU."""
        if t.dim() < 2:
            t = t.reshape(1, -1)
        t = t.detach()
        if self.rows is not None and t.shape[-2] == n_q:
            t = t.index_select(-2, self.rows.to(t.device))
        return t.reshape(-1, t.shape[-2], t.shape[-1]).to(device="cpu", dtype=torch.float64)

    def _crafted(self, site_index: int, lead, n_q, n_k, c, like) -> torch.Tensor:
        s = self.inject.make(site_index, tuple(lead), n_q, n_k, c, like)
        return s.to(dtype=like.dtype, device=like.device)

    # -- classification --------------------------------------------------------------
    def _matmul_shapes(self, name, args, kwargs):
        """(a, b, out-lead, n_q, n_k, contracted, weights-operand-or-None) for a matmul-like call, or None."""
        if name == "einsum":
            parts = _einsum_parts(args)
            if parts is None:
                return None
            ins, out, ops, sizes = parts
            if any(_storage(o) in self.param_storage for o in ops):
                return None
            contracted = [ch for ch in set(ins[0]) | set(ins[1]) if ch not in out]
            if len(out) < 2:
                return None
            c = int(math.prod(sizes[ch] for ch in contracted)) if contracted else 1
            weights = None
            for s, o in zip(ins, ops):  # the mix: an operand (…, q, k) contracted over its last axis k of size n
                if len(s) >= 2 and s[-1] in contracted and sizes[s[-1]] == self.n and s[-2] in out:
                    weights = o
            return out, sizes[out[-2]], sizes[out[-1]], c, weights
        if name == "baddbmm":
            a, b = (args[1], args[2]) if len(args) >= 3 else (kwargs.get("batch1"), kwargs.get("batch2"))
        else:
            if len(args) < 2:
                return None
            a, b = args[0], args[1]
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dim() < 2 or b.dim() < 2:
            return None
        if _storage(a) in self.param_storage or _storage(b) in self.param_storage:
            return None
        weights = a if (a.shape[-1] == self.n and b.shape[-2] == self.n) else None
        return None, a.shape[-2], b.shape[-1], a.shape[-1], weights

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        if _op_namespace(func) not in (None, "aten", "prim", "prims", "quantized"):
            self.seen_custom.append(f"torch.ops.{func}")  # a torch.ops.<namespace> custom op (a fused kernel)
        if name == SDPA:
            return self._sdpa(func, args, kwargs)
        if name == MHA:
            return self._mha(func, args, kwargs)
        if name in MATMUL_LIKE:
            return self._matmul(func, name, args, kwargs)
        out = func(*args, **kwargs)
        p = self.pending
        if (p is not None and p.normaliser is None and name in NORMALISER_LIKE and args
                and isinstance(args[0], torch.Tensor) and args[0].dim() >= 2 and args[0].shape[-1] == self.n
                and args[0].shape[-2] == p.n_q and args[0].numel() == p.heads * p.n_q * self.n):
            # same shape as the scores (a position table such as ALiBi's |i − j| is not the logits)
            p.normaliser = name
            p.logits = self._select(args[0], p.n_q)
        return out

    def _matmul(self, func, name, args, kwargs):
        call = self.calls
        self.calls += 1
        shapes = self._matmul_shapes(name, args, kwargs)
        out = func(*args, **kwargs)
        if shapes is None or not isinstance(out, torch.Tensor) or out.dim() < 2:
            return out
        _, n_q, n_k, c, weights = shapes
        p = self.pending
        if p is not None and weights is not None and weights.shape[-2] == p.n_q:
            # the mix: weights (…, n_q, n) times values; closes the pending site
            p.weights = self._select(weights, p.n_q)
            if tuple(weights.shape[:-2]) != tuple(p.lead):
                p.notes.append(f"weights lead dims {tuple(weights.shape[:-2])} differ from the score's {tuple(p.lead)}")
                p.lead = tuple(weights.shape[:-2])
            self.sites.append(p)
            self.pending = None
            return out
        if out.shape[-1] != self.n or out.shape[-2] != n_q or n_k != self.n:
            return out
        if p is not None:  # a second score before the mix (e.g. two maps); the first one stands for the site
            p.notes.append(f"another score call ({name}) before the mix")
            return out
        site = Site(len(self.sites), "eager", name, call, tuple(out.shape[:-2]), int(n_q), int(n_k), int(c))
        if self.keep_qk:
            qk = _score_operands(name, args, kwargs)
            if qk is not None:
                site.queries, site.keys = (_flat(t, out.shape[:-2]) for t in qk)
        if self.inject is not None and call in self.inject.calls:
            site.index = self.inject.calls[call]
            crafted = self._crafted(site.index, out.shape[:-2], n_q, n_k, c, out)
            if name == "baddbmm":
                inp = args[0] if args else kwargs["input"]
                beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
                crafted = beta * inp + alpha * crafted
            out = crafted
            site.injected = True
        self.pending = site
        return out

    def _sdpa(self, func, args, kwargs):
        call = self.calls
        self.calls += 1
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
        a = dict(zip(names, args))
        a.update(kwargs)
        q, k = a["query"], a["key"]
        out = func(*args, **kwargs)
        if self.pending is not None:  # an eager score that never met its mix: not attention
            self.pending = None
        n_q, n_k, c = q.shape[-2], k.shape[-2], q.shape[-1]
        site = Site(len(self.sites), "sdpa", "sdpa", call, tuple(q.shape[:-2]), int(n_q), int(n_k), int(c), "softmax")
        if n_k != self.n:
            return out
        if self.keep_qk:
            kk = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3) if k.shape[-3] != q.shape[-3] else k
            site.queries, site.keys = _flat(q, q.shape[:-2]), _flat(kk, q.shape[:-2])
        rows = self.rows.to(q.device) if self.rows is not None else None
        scale = a.get("scale")
        scale = 1.0 / math.sqrt(c) if scale is None else float(scale)
        if self.inject is not None and call in self.inject.calls:
            site.index = self.inject.calls[call]
            s = self._crafted(site.index, q.shape[:-2], n_q, n_k, c, q)
            s = s if rows is None else s.index_select(-2, rows)
            site.injected = True
        else:
            kk = k
            if a.get("enable_gqa") and k.shape[-3] != q.shape[-3]:
                kk = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
            qs = q if rows is None else q.index_select(-2, rows)
            s = qs @ kk.transpose(-2, -1)
        x = s * scale
        mask = a.get("attn_mask")
        if a.get("is_causal"):
            keep = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
            keep = keep if rows is None else keep.index_select(-2, rows)
            x = x.masked_fill(~keep, float("-inf"))
        if mask is not None:
            m = mask.expand(*mask.shape[:-2], n_q, n_k) if mask.shape[-2] == 1 else mask
            m = m if rows is None or m.shape[-2] != n_q else m.index_select(-2, rows)
            x = x.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else x + m
        if a.get("dropout_p"):
            site.notes.append(f"dropout_p = {a['dropout_p']} in SDPA: weights computed without dropout")
        w = torch.softmax(x, dim=-1)
        site.logits = x.detach().reshape(-1, x.shape[-2], x.shape[-1]).to("cpu", torch.float64)
        site.weights = w.detach().reshape(-1, w.shape[-2], w.shape[-1]).to("cpu", torch.float64)
        site.lead = tuple(w.shape[:-2])
        if len(site.lead) >= 1 and len(q.shape[:-2]) >= 1:
            site.lead = tuple(torch.broadcast_shapes(tuple(q.shape[:-2]), tuple(w.shape[:-2])))
        site.index = site.index if site.injected else len(self.sites)
        self.sites.append(site)
        return out

    def _mha(self, func, args, kwargs):
        """``F.multi_head_attention_forward`` (nn.MultiheadAttention, nn.TransformerEncoderLayer).

        It arrives as one call, so its weights are asked of it: the same call again with
        ``need_weights=True, average_attn_weights=False`` returns them per head (torch's own
        computation). Crafted scores go through its documented map softmax(S/√d_h + attn_mask)
        (a boolean attn_mask is True where attention is *not* allowed). Extra keys (bias_k,
        add_zero_attn, static_k) and key_padding_mask are not handled: the site is left out, noted.
        """
        import inspect

        call = self.calls
        self.calls += 1
        out = func(*args, **kwargs)
        try:
            a = inspect.signature(torch.nn.functional.multi_head_attention_forward).bind(*args, **kwargs)
        except TypeError:
            return out
        a.apply_defaults()
        a = a.arguments
        query, key = a["query"], a["key"]
        if (a["bias_k"] is not None or a["add_zero_attn"] or a["static_k"] is not None
                or a["key_padding_mask"] is not None or query.dim() != 3 or key.shape[0] != self.n):
            self.seen_composites.append(f"{MHA} with extra keys or a key_padding_mask (not read)")
            return out
        L, N, E = query.shape
        H = int(a["num_heads"])
        dh = E // H
        site = Site(len(self.sites), "mha", "multi_head_attention_forward", call, (N, H), L, key.shape[0], dh, "softmax")
        rows = self.rows.to(query.device) if self.rows is not None else None
        if self.inject is not None and call in self.inject.calls:
            site.index = self.inject.calls[call]
            S = self._crafted(site.index, (N, H), L, key.shape[0], dh, query)
            x = S / math.sqrt(dh)
            mask = a["attn_mask"]
            if mask is not None:
                m = mask.reshape(-1, N, H, L, key.shape[0])[0] if mask.dim() == 3 else mask
                x = x.masked_fill(m, float("-inf")) if m.dtype == torch.bool else x + m
            x = x if rows is None else x.index_select(-2, rows)
            w = torch.softmax(x, -1)
            site.injected = True
        else:
            kw = dict(a)
            kw.update(need_weights=True, average_attn_weights=False)
            w = func(**kw)[1]                     # (N, H, L, S): the module's own weights
            w = w if rows is None else w.index_select(-2, rows)
            if self.keep_qk:
                wq, wk = ((a["q_proj_weight"], a["k_proj_weight"]) if a["use_separate_proj_weight"]
                          else a["in_proj_weight"].chunk(3)[:2])
                bq, bk = (a["in_proj_bias"].chunk(3)[:2] if a["in_proj_bias"] is not None else (None, None))
                q = torch.nn.functional.linear(query, wq, bq).reshape(L, N * H, dh).transpose(0, 1)
                k = torch.nn.functional.linear(key, wk, bk).reshape(key.shape[0], N * H, dh).transpose(0, 1)
                site.queries, site.keys = (t.detach().to("cpu", torch.float64) for t in (q, k))
        site.weights = w.detach().reshape(-1, w.shape[-2], w.shape[-1]).to("cpu", torch.float64)
        site.index = site.index if site.injected else len(self.sites)
        self.sites.append(site)
        return out

    # -- after the pass ------------------------------------------------------------------
    def injection_calls(self) -> dict:
        """{score_call: site index} of this (plain) pass, for an :class:`Injection` at the same n."""
        return {s.score_call: s.index for s in self.sites}

    def unobserved_reason(self, design: str) -> str:
        seen = []
        if self.seen_composites:
            seen.append(", ".join(sorted(set(self.seen_composites))))
        if self.seen_custom:
            seen.append(f"custom op(s) {', '.join(sorted(set(self.seen_custom))[:3])} (a fused kernel)")
        what = "; seen instead: " + ", ".join(seen) if seen else ""
        return (f"{design}: no attention computation was seen in its forward pass at n = {self.n}: no "
                "scaled_dot_product_attention call and no (…, n, n) score matmul followed by a matmul with the values"
                f"{what}. TorchFunctionMode cannot see fused kernels called outside torch's Python API (flash-attn, "
                "xformers, C++ extensions, torch.compile'd code); use an eager or SDPA attention implementation "
                "(Hugging Face: attn_implementation='eager')")


def observable(module) -> list[str]:
    """Switch Hugging Face attention implementations the capture cannot see (flash, flex) to ``eager``.

    Returns notes for what was changed. Any module with a ``config._attn_implementation`` counts.
    """
    notes = []
    for mod in module.modules():
        cfg = getattr(mod, "config", None)
        impl = getattr(cfg, "_attn_implementation", None)
        if isinstance(impl, str) and impl not in ("eager", "sdpa"):
            setter = getattr(mod, "set_attn_implementation", None)
            try:
                if callable(setter):
                    setter("eager")
                else:
                    cfg._attn_implementation = "eager"
            except Exception:  # noqa: BLE001 - older versions: the config attribute is what the layers read
                cfg._attn_implementation = "eager"
            notes.append(f"attn_implementation {impl!r} is not observable: switched to 'eager'")
    return sorted(set(notes))


def capture(module, x: torch.Tensor, *, rows: torch.Tensor | None = None, inject: Injection | None = None,
            design: str = "module", require: bool = True, keep_qk: bool = False) -> AttentionCapture:
    """Run ``module(x)`` under :class:`AttentionCapture` (no grad) and return the capture.

    ``require``: raise :class:`NotApplicable` when no attention site was seen. ``keep_qk``: also keep
    each site's queries and keys (all rows).
    """
    cap = AttentionCapture(x.shape[-2], rows=rows, inject=inject, parameters=list(module.parameters()),
                           keep_qk=keep_qk)
    with torch.no_grad(), cap:
        module(x)
    if require and not cap.sites:
        raise NotApplicable(cap.unobserved_reason(design))
    return cap


def attention_seen(subject, n: int = 8) -> tuple[bool, str]:
    """(True, "") when one forward pass of the loaded ``subject`` at length ``n`` shows an attention computation
    the capture can read, else (False, why). Cached on the subject: probes' ``applies_to`` ask it cheaply."""
    cache = subject.__dict__.setdefault("_attention_seen", {})
    if n not in cache:
        module = subject.module
        param = next(iter(module.parameters()), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float64
        device = param.device if param is not None else "cpu"
        observable(module)
        x = torch.randn(1, n, subject.d_model, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        try:
            cap = capture(module, x.to(device=device, dtype=dtype), design=subject.name, require=False)
            cache[n] = (True, "") if cap.sites else (False, cap.unobserved_reason(subject.name))
        except NotApplicable as exc:
            cache[n] = (False, str(exc))
        except Exception as exc:  # the design's own code failed on the look at n: say so, one line
            msg = subject.design_failure(exc, "the attention capture") if hasattr(subject, "design_failure") else None
            if msg is None:
                raise
            cache[n] = (False, msg)
    return cache[n]



from probes.contract import Probe  # noqa: E402  (contract imports nothing from here)


class CapturedAttentionProbe(Probe):
    """A probe of a design's own attention read through the capture: it applies when one forward pass shows an
    attention computation (:func:`attention_seen`), and runs the module's ``audit_fn(subject, seed, dtype,
    device, options)`` with options from ``add_options(group)`` (both set by the subclass)."""

    audit_fn = None
    add_options = None

    def applies_to(self, subject, options=None):
        ok, why = super().applies_to(subject, options)
        return attention_seen(subject) if ok else (ok, why)

    def add_arguments(self, group) -> None:
        type(self).add_options(group)

    def run(self, subject, options=None):
        o = self.options(options)
        return type(self).audit_fn(subject, seed=o["seed"], dtype=o["dtype"], device=o["device"], options=o)
