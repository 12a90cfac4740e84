"""The capture layer (probes/capture.py) and the entropy probe on a module's own attention (probes/module_entropy.py).

Modules the tests write themselves, Hugging Face models built from small configs (the `hf` extra) and
x-transformers (an optional extra: skipped, with the reason, when it is not installed).
"""
from __future__ import annotations

import json
import math
import textwrap

import pytest
import torch
from torch import nn

from probes import module_entropy as ME
from probes.capture import AttentionCapture, Injection, capture, observable
from probes.designs.loading import load_design
from probes.errors import Diverged, InputError, NotApplicable

F64 = torch.float64


class HandWritten(nn.Module):
    """Multi-head self-attention with the normaliser written inside ``forward``.

    ``mult``: ``su`` (logits × ln n/ln 512), ``chiang`` (× ln n); ``norm``: softmax, sigmoid (σ(x − ln n)),
    relu2 (relu(x)²/n); ``einsum``: scores and mix through torch.einsum instead of ``@``.
    """

    def __init__(self, d_model=32, heads=4, *, mult=None, norm="softmax", causal=False, einsum=False, nan_from=None):
        super().__init__()
        self.d_model, self.h, self.mult, self.norm, self.causal, self.einsum = d_model, heads, mult, norm, causal, einsum
        self.nan_from = nan_from
        self.ln = nn.LayerNorm(d_model)
        self.qkv, self.out = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)

    def qkv_heads(self, x):
        b, n, _ = x.shape
        return self.qkv(self.ln(x)).view(b, n, 3, self.h, -1).permute(2, 0, 3, 1, 4)

    def weights(self, x, scores=None):
        q, k, _ = self.qkv_heads(x)
        n = x.shape[1]
        s = (torch.einsum("... i d, ... j d -> ... i j", q, k) if self.einsum else q @ k.transpose(-1, -2)) \
            if scores is None else scores
        a = s / math.sqrt(q.shape[-1])
        if self.mult == "su":
            a = a * math.log(n) / math.log(512)
        elif self.mult == "chiang":
            a = a * math.log(n)
        if self.causal:
            a = a.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        if self.norm == "softmax":
            w = a.softmax(-1)
        elif self.norm == "sigmoid":
            w = torch.sigmoid(a - math.log(n))
        else:
            w = torch.relu(a) ** 2 / n
        if self.nan_from is not None and n >= self.nan_from:
            w = w * float("nan")
        return w

    def forward(self, x):
        _, _, v = self.qkv_heads(x)
        w = self.weights(x)
        o = torch.einsum("bhij,bhjd->bhid", w, v) if self.einsum else w @ v   # scores with an ellipsis, mix without
        b, _, n, _ = o.shape
        return x + self.out(o.transpose(1, 2).reshape(b, n, -1))


def subject(module, **kw):
    return load_design(module, **kw)


# -- the capture layer ---------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"einsum": True}, {"norm": "sigmoid"}, {"norm": "relu2", "causal": True},
                                {"mult": "su"}], ids=["softmax", "einsum", "sigmoid", "relu2-causal", "su"])
def test_captured_weights_are_the_modules_own(kw):
    m = subject(HandWritten(**kw)).module
    x = torch.randn(1, 24, 32, dtype=F64, generator=torch.Generator().manual_seed(1))
    cap = capture(m, x)
    assert len(cap.sites) == 1
    site = cap.sites[0]
    assert site.kind == "eager" and site.heads == 4 and site.contracted == 8
    assert site.score_op == ("einsum" if kw.get("einsum") else "matmul")
    assert site.normaliser == {"sigmoid": "sigmoid", "relu2": "relu"}.get(kw.get("norm"), "softmax")
    with torch.no_grad():
        own = m.weights(x).reshape(4, 24, 24)
    torch.testing.assert_close(site.weights, own, rtol=0, atol=1e-12)


def test_row_selection_keeps_only_the_asked_rows():
    m = subject(HandWritten()).module
    x = torch.randn(1, 40, 32, dtype=F64)
    rows = torch.tensor([3, 20, 39])
    cap = capture(m, x, rows=rows)
    with torch.no_grad():
        own = m.weights(x).reshape(4, 40, 40)[:, rows]
    torch.testing.assert_close(cap.sites[0].weights, own, rtol=0, atol=1e-12)


def test_injection_runs_the_modules_map_on_crafted_scores():
    m = subject(HandWritten(mult="su")).module
    x = torch.randn(1, 32, 32, dtype=F64)
    plain = capture(m, x)
    crafted = torch.randn(1, 4, 32, 32, dtype=F64, generator=torch.Generator().manual_seed(3)) * math.sqrt(8)
    inj = Injection(plain.injection_calls(), lambda site, lead, n_q, n_k, c, like: crafted.clone())
    cap = capture(m, x, inject=inj)
    assert cap.sites[0].injected
    with torch.no_grad():
        want = m.weights(x, scores=crafted).reshape(4, 32, 32)  # the module's own scale, ln n factor and softmax
    torch.testing.assert_close(cap.sites[0].weights, want, rtol=0, atol=1e-12)


def test_a_matmul_with_a_weight_matrix_of_width_n_is_no_site():
    class WideMLP(HandWritten):  # x @ W with W of width 64 = n: a projection, not a score
        def __init__(self):
            super().__init__()
            self.w_up = nn.Parameter(torch.randn(32, 64) / 8)
            self.w_down = nn.Parameter(torch.randn(64, 32) / 8)

        def forward(self, x):
            return super().forward(x) + torch.relu(x @ self.w_up) @ self.w_down

    cap = capture(subject(WideMLP()).module, torch.randn(1, 64, 32, dtype=F64))
    assert len(cap.sites) == 1 and cap.sites[0].heads == 4


def test_linear_attention_forms_no_weights_matrix():
    s = load_design("linear")
    with pytest.raises(NotApplicable, match="no attention computation was seen"):
        capture(s.module, torch.randn(1, 32, s.d_model, dtype=F64), design="linear")


class TorchEncoder(nn.Module):
    """nn.TransformerEncoderLayer (its fused fast path is off under the mode; MHA arrives as one call)."""

    def __init__(self, causal=False, **kw):
        super().__init__()
        self.d_model, self.causal = 32, causal
        self.enc = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0, **kw)

    def forward(self, x):
        n = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(n, dtype=x.dtype) if self.causal else None
        return self.enc(x, src_mask=mask, is_causal=self.causal)


@pytest.mark.parametrize("causal", [False, True])
def test_torch_multihead_attention_is_read_from_its_call(causal):
    m = subject(TorchEncoder(causal)).module
    site = capture(m, torch.randn(1, 16, 32, dtype=F64), keep_qk=True).sites[0]
    assert site.kind == "mha" and site.heads == 4
    s = site.queries @ site.keys.transpose(-1, -2) / math.sqrt(8)
    if causal:
        s = s.masked_fill(~torch.ones(16, 16, dtype=torch.bool).tril(), float("-inf"))
    torch.testing.assert_close(site.weights, s.softmax(-1), rtol=0, atol=1e-12)
    r = ME.probe(subject(TorchEncoder(causal)), rows=8, n_max=2048)
    assert (r.verdict, r.crafted_verdict, r.needle_verdict, r.causal) == ("standard-like", "standard-like", "fading",
                                                                          causal)


def test_multihead_attention_with_extra_keys_is_not_applicable_and_named():
    class BiasKV(TorchEncoder):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(32, 4, add_bias_kv=True, batch_first=True)

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    with pytest.raises(NotApplicable, match="multi_head_attention_forward with extra keys"):
        capture(subject(BiasKV()).module, torch.randn(1, 8, 32, dtype=F64), design="bias-kv")


def test_a_fused_custom_op_is_not_applicable_and_named():
    lib = torch.library.Library("attnprobe_test", "FRAGMENT")  # noqa: F841 - kept alive while the op is used
    lib.define("fused_attn(Tensor q, Tensor k, Tensor v) -> Tensor")

    def impl(q, k, v):  # a stand-in for a fused kernel: its scores never reach Python
        return torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    lib.impl("fused_attn", impl, "CompositeExplicitAutograd")

    class Fused(HandWritten):
        def forward(self, x):
            q, k, v = self.qkv_heads(x)
            return x + torch.ops.attnprobe_test.fused_attn(q, k, v).transpose(1, 2).reshape(x.shape)

    with pytest.raises(NotApplicable, match="attnprobe_test.fused_attn"):
        capture(subject(Fused()).module, torch.randn(1, 8, 32, dtype=F64), design="fused")


def test_observable_switches_unobservable_hf_implementations():
    class Cfg:
        _attn_implementation = "flash_attention_2"

    m = nn.Module()
    m.config = Cfg()
    assert observable(m) == ["attn_implementation 'flash_attention_2' is not observable: switched to 'eager'"]
    assert m.config._attn_implementation == "eager" and observable(m) == []


def test_causal_mask_is_detected():
    assert ME.detect_causal(subject(HandWritten(causal=True)).module, 32) == (True, 4)
    assert ME.detect_causal(subject(HandWritten()).module, 32) == (False, 4)


def test_auto_max_length_bounds_the_cost():
    assert ME.auto_max_log2n(4) == 12 and ME.auto_max_log2n(8) == 11 and ME.auto_max_log2n(72) == 11
    with pytest.raises(InputError, match="n_max ≥ 2048"):
        ME.probe(subject(HandWritten()), n_max=1024)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_module_probe_on_cuda_matches_cpu():
    cpu = ME.probe(subject(HandWritten(mult="su")), rows=8, n_max=2048)
    gpu = ME.probe(subject(HandWritten(mult="su"), device="cuda"), device="cuda", rows=8, n_max=2048)
    assert gpu.device == "cuda" and gpu.verdict == cpu.verdict and gpu.needle_verdict == cpu.needle_verdict
    for n, h in cpu.entropy_by_n.items():
        assert gpu.entropy_by_n[n] == pytest.approx(h, abs=1e-9)


# -- entropy measured on the module ----------------------------------------------------------
@pytest.mark.parametrize("kw,p1,p2", [
    ({}, "standard-like", "fading"),
    ({"mult": "su"}, "partially-compensated", None),
    ({"mult": "chiang"}, "collapsed", "no-fading"),
    ({"norm": "sigmoid"}, "standard-like", "fading"),
    ({"norm": "relu2"}, "standard-like", "no-fading"),     # ln n − (2 − γ): slope 1; a zero background gets nothing
], ids=["softmax", "su-log512", "chiang-ln", "sigmoid", "relu2"])
def test_hand_written_normalisers_are_measured_not_refused(kw, p1, p2):
    r = ME.probe(subject(HandWritten(**kw)), rows=16, n_max=2048)
    d = r.to_dict()
    assert d["measured_on"] == "module" and d["causal"] is False
    # crafted σ = 1 scores through the module's map: every head; its own q·k: heads differ in their logit σ
    # (the re-drawn weights), so the most common verdict (a sigmoid head at σ ≈ 1.6 has slope ≈ 0.89)
    assert r.crafted_verdict == p1, r.crafted_verdict_counts
    assert max(r.verdict_counts, key=r.verdict_counts.get) == p1, r.verdict_counts
    if p2 is not None:
        assert r.needle_verdict == p2, r.needle_verdict_counts
    assert r.theory_design is None and r.agrees_with_theory is None  # no zoo design named: measured only
    json.dumps(d)


def test_crafted_pass_equals_the_zoo_probe_on_the_same_normaliser():
    """Zoo ``logn`` through its own forward: the crafted σ = 1 pass is the zoo probe's measurement."""
    from probes import entropy as E

    s = load_design("logn")
    r = ME.probe(s, rows=16, n_max=2048)
    z = E.probe("logn", rows=64, n_max=2048, noise_needle=False)
    assert r.crafted_verdict == z.verdict == "partially-compensated"
    assert r.theory_design == "logn" and r.theory["verdict"] == "partially-compensated" and r.agrees_with_theory
    for n in ("512", "2048"):
        assert r.crafted_entropy_by_n[n] == pytest.approx(z.entropy_by_n[n], abs=0.05)
        assert r.needle_by_n[n] == pytest.approx(z.needle_by_n["3.0"][n], rel=1e-9)  # flat needle: exact


def test_nan_weights_diverge_naming_the_site():
    with pytest.raises(Diverged, match="site 0.*n = 512"):
        ME.probe(subject(HandWritten(nan_from=512)), rows=4, n_max=2048)


def test_a_module_that_refuses_long_inputs_is_not_applicable():
    class Short(HandWritten):
        def forward(self, x):
            if x.shape[1] > 256:
                raise ValueError("max length 256")
            return super().forward(x)

    with pytest.raises(NotApplicable, match="max length 256"):
        ME.probe(subject(Short()), rows=4, n_max=2048)


def test_audit_cli_measures_a_users_file(tmp_path, capsys):
    from probes.cli import main

    path = tmp_path / "design.py"
    path.write_text(textwrap.dedent('''
        import math, torch

        class SuAttention(torch.nn.Module):
            """softmax(q·k/√d · ln n / ln 512), hand-written."""
            def __init__(self, d_model=32, heads=4):
                super().__init__()
                self.d_model, self.h = d_model, heads
                self.qkv, self.out = torch.nn.Linear(d_model, 3 * d_model), torch.nn.Linear(d_model, d_model)

            def forward(self, x):
                b, n, _ = x.shape
                q, k, v = self.qkv(x).view(b, n, 3, self.h, -1).permute(2, 0, 3, 1, 4)
                a = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) * math.log(n) / math.log(512)
                return self.out((a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1))

        def make():
            return SuAttention()
    '''))
    out = tmp_path / "report"
    code = main(["audit", f"{path}:make", "--probe", "entropy", "--json", "--capture-max-log2n", "11",
                 "--capture-rows", "8", "--capture-theory", "logn", "--out", str(out)])
    data = json.loads(capsys.readouterr().out)
    ent = data["probes"]["entropy"]
    assert code == 0 and ent["measured_on"] == "module" and ent["verdict"] == "partially-compensated"
    assert ent["theory_design"] == "logn" and ent["theory"]["verdict"] == "partially-compensated"
    md = (out / "report.md").read_text()
    assert "measured on the module" in md and "| site | head |" in md
    assert list(out.glob("entropy_vs_n_module_*.png"))


# -- Hugging Face models built from configs ----------------------------------------------------
transformers = pytest.importorskip("transformers")

HF = {
    "llama": lambda: transformers.LlamaModel(transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=64, max_position_embeddings=4096)),
    "mistral": lambda: transformers.MistralModel(transformers.MistralConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=64, max_position_embeddings=4096)),
    "qwen2": lambda: transformers.Qwen2Model(transformers.Qwen2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=64, max_position_embeddings=4096)),
    "gpt_neox": lambda: transformers.GPTNeoXModel(transformers.GPTNeoXConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=64,
        rotary_pct=0.25, max_position_embeddings=4096)),
    "gpt2": lambda: transformers.GPT2Model(transformers.GPT2Config(
        n_embd=32, n_layer=1, n_head=4, vocab_size=64, n_positions=4096, bos_token_id=0, eos_token_id=0)),
    "bert": lambda: transformers.BertModel(transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=64,
        max_position_embeddings=4096)),
    "t5": lambda: transformers.T5EncoderModel(transformers.T5Config(
        d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, vocab_size=64)),
    "bloom": lambda: transformers.BloomModel(transformers.BloomConfig(hidden_size=32, n_layer=1, n_head=4,
                                                                      vocab_size=64)),
    "falcon": lambda: transformers.FalconModel(transformers.FalconConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, vocab_size=64, alibi=True,
        new_decoder_architecture=False, multi_query=False)),
}
# (P1 on its own q·k, P2, theory design) at n = 64..2048 with the loader's re-drawn parameters (seed 0)
HF_EXPECTED = {
    "llama": ("standard-like", "fading", "rope-causal"), "mistral": ("standard-like", "fading", "rope-causal"),
    "qwen2": ("standard-like", "fading", "rope-causal"), "gpt_neox": ("standard-like", "fading", "rope-causal"),
    "gpt2": ("standard-like", "fading", "learned-causal"), "bert": ("standard-like", "fading", "learned"),
    "bloom": ("partially-compensated", "fading", "alibi-causal"), "falcon": (None, "fading", "alibi-causal"),
    "t5": (None, None, "t5"),
}


@pytest.mark.parametrize("arch", list(HF))
def test_hf_models_are_measured_through_their_own_attention(arch):
    s = load_design(HF[arch]())
    p1, p2, zoo = HF_EXPECTED[arch]
    r = ME.probe(s, rows=12, n_max=2048, theory=zoo)
    assert r.measured_on == "module" and r.sites and r.theory_design == zoo
    if p1 is not None:
        assert r.verdict == p1, r.verdict_counts
    if p2 is not None:
        assert r.needle_verdict == p2, r.needle_verdict_counts
    if arch in ("llama", "mistral", "qwen2", "gpt_neox", "gpt2", "bert"):
        assert r.agrees_with_theory is True
    if arch == "t5":  # no 1/√d scale: unit-variance q, k give logits of σ ≈ √d_kv (a finding, not a bug)
        assert all(h["logit_sd_by_n"]["2048"] > 2.0 for h in r.heads)


def test_sdpa_and_eager_capture_the_same_weights():
    model = HF["llama"]()
    s = load_design(model)
    x = torch.randn(1, 32, 32, dtype=F64)
    model.set_attn_implementation("sdpa")
    sd = capture(s.module, x)
    model.set_attn_implementation("eager")
    ea = capture(s.module, x)
    assert [c.kind for c in sd.sites] == ["sdpa", "sdpa"] and [c.kind for c in ea.sites] == ["eager", "eager"]
    for a, b in zip(sd.sites, ea.sites):  # Llama's eager softmax runs in float32 even in a float64 model
        torch.testing.assert_close(a.weights, b.weights, rtol=0, atol=1e-6)
        assert bool((torch.triu(a.weights, 1) == 0).all())


LOGN_LLAMA = '''
import math
import transformers
from transformers.models.llama.modeling_llama import LlamaAttention

class LogNAttention(LlamaAttention):
    """Llama attention with its logits scaled by ln n (MODE = "ln") or ln n / ln 512 (MODE = "su")."""
    def forward(self, hidden_states, *args, **kwargs):
        n = hidden_states.shape[1]
        self.scaling = self.head_dim ** -0.5 * (math.log(n) if MODE == "ln" else math.log(n) / math.log(512))
        return super().forward(hidden_states, *args, **kwargs)

class LogNLlama(transformers.LlamaModel):
    def __init__(self, config):
        super().__init__(config)
        for i, layer in enumerate(self.layers):
            layer.self_attn = LogNAttention(config, i)

CFG = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=64, max_position_embeddings=4096)
MODE = "ln"

def llama():
    return transformers.LlamaModel(transformers.LlamaConfig(**CFG))

def logn_llama():
    global MODE
    MODE = "ln"
    return LogNLlama(transformers.LlamaConfig(**CFG))

def su_llama():
    global MODE
    MODE = "su"
    return LogNLlama(transformers.LlamaConfig(**CFG))
'''


def test_changing_a_llamas_attention_changes_the_audited_entropy_verdict(tmp_path, capsys):
    from probes.cli import main

    path = tmp_path / "llamas.py"
    path.write_text(LOGN_LLAMA)
    got = {}
    for factory in ("llama", "logn_llama", "su_llama"):
        code = main(["audit", f"{path}:{factory}", "--probe", "entropy", "--json", "--capture-max-log2n", "11",
                     "--capture-rows", "8"])
        ent = json.loads(capsys.readouterr().out)["probes"]["entropy"]
        assert code == 0 and ent["measured_on"] == "module" and ent["theory_design"] == "rope-causal"
        got[factory] = ent
    assert got["llama"]["verdict"] == "standard-like" and got["llama"]["agrees_with_theory"] is True
    assert got["logn_llama"]["verdict"] == "collapsed" and got["logn_llama"]["needle_verdict"] == "no-fading"
    assert got["su_llama"]["verdict"] == "partially-compensated"
    # the theory column stays the zoo design's: it is never the measurement
    assert {g["theory"]["verdict"] for g in got.values()} == {"standard-like"}
    assert got["logn_llama"]["agrees_with_theory"] is False


# -- x-transformers (optional extra) -----------------------------------------------------------
def test_x_transformers_stacks():
    xt = pytest.importorskip("x_transformers", reason="x-transformers is an optional extra and is not installed: "
                                                       "pip install x-transformers to audit its stacks")
    expected = {  # (stack, position) -> P1 verdict on its own q·k (rows = 16, n ≤ 2048, seed 0)
        ("Encoder", "rotary_pos_emb"): "standard-like", ("Encoder", None): "standard-like",
        ("Decoder", "rotary_pos_emb"): "standard-like", ("Decoder", None): "standard-like",
        ("Decoder", "alibi_pos_bias"): "partially-compensated",   # ALiBi localises: as theory's alibi-causal row
    }
    for cls in (xt.Encoder, xt.Decoder):
        for pos in ("rotary_pos_emb", "alibi_pos_bias", "rel_pos_bias", None):
            stack = cls(dim=32, depth=1, heads=4, **({pos: True} if pos else {}))
            stack.d_model = 32
            r = ME.probe(load_design(stack), rows=16, n_max=2048)
            assert r.measured_on == "module" and r.sites and r.causal == (cls is xt.Decoder), (cls, pos)
            if (cls.__name__, pos) in expected:
                assert r.verdict == expected[(cls.__name__, pos)], (cls.__name__, pos, r.verdict)


# -- key hubness and attend-to-nothing on the module ----------------------------------------------
class QK(nn.Module):
    """q = x W_q (+ b_q), k = x W_k; no LayerNorm (its bias would offset the queries). ``isotropic``: q and k are
    the two halves of the token itself (isotropic, centred), the keys scaled to unit norm."""

    def __init__(self, d_model=32, heads=4, *, q_bias=False, isotropic=False):
        super().__init__()
        self.d_model, self.h, self.isotropic = d_model, heads, isotropic
        self.q = nn.Linear(d_model, d_model, bias=q_bias)
        self.kv = nn.Linear(d_model, 2 * d_model, bias=False)

    def forward(self, x):
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.h, -1).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, self.h, -1).permute(2, 0, 3, 1, 4)
        if self.isotropic:
            half = x.shape[-1] // 2
            q = x[..., :half].reshape(b, n, self.h, -1).transpose(1, 2)
            k = x[..., half:].reshape(b, n, self.h, -1).transpose(1, 2)
            k = k / k.norm(dim=-1, keepdim=True)
            v = v[..., : q.shape[-1]]
        w = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)
        o = (w @ v).transpose(1, 2).reshape(b, n, -1)
        return x + torch.cat([o, o], -1) if self.isotropic else x + o


def test_key_hubness_follows_the_query_offset_and_its_control():
    """A query bias b_q gives every key the offset ⟨b_q, k_j⟩ (w > 0): hubs. Isotropic centred queries over unit
    keys (the premise w = 0): the null. (Random W_q, W_k without bias sit in between: anisotropy, not offset.)"""
    from probes import module_hubness as MH

    hub = MH.probe(subject(QK(q_bias=True)), n=512)
    null = MH.probe(subject(QK(isotropic=True, d_model=64)), n=512)
    assert hub.measured_on == null.measured_on == "module"
    assert all(h["verdict"] in ("hubness", "near-limit") for h in hub.heads), hub.verdict_counts
    assert all(h["robinhood"] > 2 * h["null_robinhood"] for h in hub.heads)
    # at n = 512 one head's RH sits at 1.15 × the null's (the verdict's edge): the bound here is 1.3 ×
    assert all(h["robinhood"] < 1.3 * h["null_robinhood"] for h in null.heads), null.heads
    assert null.verdict_counts.get("null-like", 0) >= 3, null.verdict_counts
    # the captured queries and keys are the module's own: N_k of q·k equals N_k of its logits (1/√d is monotone)
    s = capture(subject(QK(q_bias=True)).module, torch.randn(1, 64, 32, dtype=F64), keep_qk=True).sites[0]
    torch.testing.assert_close(s.queries @ s.keys.transpose(-1, -2) / math.sqrt(8), s.logits, rtol=0, atol=1e-12)


def test_attend_to_nothing_measured_and_beside_its_theory():
    from probes import module_null as MN

    s1 = MN.probe(load_design("softmax1"), n_max=2048)
    assert s1.verdict == "abstention-fades" and s1.theory["verdict"] == "abstention-fades" and s1.agrees_with_theory
    for i, n in enumerate(s1.ns):  # 1/(1 + n e^{−5}) exactly: the map is the module's, the formula the theory's
        assert s1.null_mass_by_n[str(n)] == pytest.approx(s1.theory["null_mass_by_n"][i], rel=1e-9)
    assert MN.probe(subject(HandWritten()), n_max=1024).verdict == "cannot-abstain"
    assert MN.probe(subject(HandWritten(norm="sigmoid")), n_max=1024).verdict == "can-abstain"
    assert MN.probe(subject(HandWritten(norm="relu2")), n_max=1024).verdict == "can-abstain"
    llama = MN.probe(load_design(HF["llama"]()), n_max=1024)
    assert llama.verdict == "cannot-abstain" and llama.theory_design == "rope-causal" and llama.agrees_with_theory
