"""The derived hubness laws (theory/hubness.py): the w = 0 null, the query→key limit law, key
translation invariance and query centring."""
import numpy as np
import torch

from paper_checks._hubness_sources import ATTNPROBE_NULL, ATTNPROBE_QK
from paper_checks.claims import claim
from probes import hubness as H

D, NQ, NK, K = 256, 2000, 2000, 10


def _qk(seed, w_target=0.8, centred=False, normalise_keys=False):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(NK, D, generator=g, dtype=torch.float64)
    if normalise_keys:
        keys = keys / keys.norm(dim=1, keepdim=True) * D**0.5
    mu = torch.randn(D, generator=g, dtype=torch.float64)
    mu = mu / mu.norm() * w_target * D**0.5            # w = ‖μ_q‖/√d
    queries = torch.randn(NQ, D, generator=g, dtype=torch.float64) + (0 if centred else mu)
    return keys, queries


@claim("attnprobe2026-hubness-null-model", ATTNPROBE_NULL,
       "With constant norms (Rademacher coordinates, w = 0) N_k follows the Binomial null: Robin Hood and skewness "
       "as predicted, antihubs ≈ e^{−k}.")
def test_null_model(claim):
    claim.seed(0, 1)
    claim.dtype = "float32 pass, float64-certified k-NN"
    rs = [H.probe(H.synthetic("rademacher", 2000, 200, seed=s), k=K, seed=s) for s in (0, 1)]
    null = rs[0].theory["null"]
    claim.close("Robin Hood, Rademacher ℓ2, d = 200 (mean of 2 seeds)", float(np.mean([r.robinhood for r in rs])),
                null["robinhood"], rtol=0.12)
    claim.close("skewness (mean of 2 seeds)", float(np.mean([r.skewness for r in rs])), null["skewness"], atol=0.15)
    claim.less("antihub occurrence", float(np.mean([r.antihub_occurrence for r in rs])), 0.005)
    # control: normal coordinates (kurtosis 3, w = 0.71) break the premise
    n = H.probe(H.synthetic("normal", 2000, 200, seed=0), k=K, seed=0, theory=False)
    claim.control.far("Robin Hood, normal ℓ2, d = 200", n.robinhood, null["robinhood"], rtol=0.12)


@claim("attnprobe2026-query-key-limit-law", ATTNPROBE_QK,
       "Queries with mean μ_q ranking keys by ⟨q, k⟩ follow the limit law with w = ‖μ_q‖/√d: antihub and Robin Hood "
       "as the 1-D integrals predict.")
def test_query_key_limit_law(claim):
    claim.seed(0)
    claim.dtype = "float64 (law); float32 pass, float64-certified (control)"
    keys, queries = _qk(0)
    r = H.probe(keys, queries, k=K, metric="dot", seed=0, dtype="float64", w=0.8)  # the premise's w = ‖μ_q‖/√d
    lim = r.theory["limit"]
    claim.close("w estimated from the moments vs ‖μ_q‖/√d", r.theory["w_plug_in_for_this_draw"], 0.8, rtol=0.05)
    claim.close("antihub occurrence vs limit law", r.antihub_occurrence, lim["antihub"], atol=0.03)
    claim.close("Robin Hood vs limit law", r.robinhood, lim["robinhood"], atol=0.03)
    # control: centred queries (μ_q = 0) break the premise; the same check against the w = 0.8 law fails
    kc, qc = _qk(0, centred=True)
    rc = H.probe(kc, qc, k=K, metric="dot", seed=0, theory=False)
    claim.control.far("Robin Hood with centred queries vs the w = 0.8 law", rc.robinhood, lim["robinhood"], atol=0.03)


@claim("attnprobe2026-key-translation-invariance", ATTNPROBE_QK,
       "Adding one vector to every key shifts each query's logits by a constant, so every top-k set and N_k is unchanged.")
def test_key_translation_invariance(claim):
    claim.seed(1)
    keys, queries = _qk(1)
    c = torch.randn(D, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    base = H.k_occurrence(keys, queries, k=K, metric="dot", dtype="float64")
    claim.equal("N_k identical after keys + c", bool(np.array_equal(base, H.k_occurrence(keys + c, queries, k=K, metric="dot", dtype="float64"))), True)
    # control: translating the queries instead adds a per-key offset ⟨c, k_j⟩ and changes N_k
    moved = H.k_occurrence(keys, queries + c, k=K, metric="dot", dtype="float64")
    claim.control.equal("N_k identical after queries + c", bool(np.array_equal(base, moved)), False)


@claim("attnprobe2026-query-centring", ATTNPROBE_QK,
       "Centring the queries removes key hubness: with QK-normed keys the k-occurrence of keys reads null-like.")
def test_query_centring(claim):
    claim.seed(2)
    claim.dtype = "float32 pass, float64-certified k-NN"
    keys, queries = _qk(2, centred=True, normalise_keys=True)
    r = H.probe(keys, queries, k=K, metric="dot", seed=2)
    claim.equal("verdict, centred queries, normalised keys", r.verdict, "null-like")
    claim.close("Robin Hood vs null", r.robinhood, r.theory["null"]["robinhood"], rtol=0.1)
    keys, queries = _qk(2, centred=False, normalise_keys=True)
    u = H.probe(keys, queries, k=K, metric="dot", seed=2)
    claim.control.not_equal("verdict, uncentred queries (‖μ_q‖/√d = 0.8)", u.verdict, "null-like")
