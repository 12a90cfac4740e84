"""Differential attention: row sums 1 − λ, the λ_init schedule, and the common-mode noise gain."""
from __future__ import annotations

import torch

from paper_checks._entropy_sources import SEED, YE
from paper_checks._stats import Z, replicate_seeds, spread
from paper_checks.claims import claim
from probes import entropy as E
from probes.designs import zoo
from probes.designs.attention import DiffAttention
from probes.designs.positions import make_position
from theory import softmax_variants as tv


@claim("ye2024-diff-row-sums", YE,
       "The rows of the differential map softmax(Q₁K₁ᵀ/√d) − λ softmax(Q₂K₂ᵀ/√d) sum to 1 − λ, not 1.",
       attribution="derived")
def test_row_sums(claim):
    s = claim.seed(SEED)
    model = zoo.build("diff", seed=s, n_layers=2)
    x = torch.randn(2, 24, model.d_model, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
    attn = [m for m in model.modules() if isinstance(m, DiffAttention)]
    with torch.no_grad():
        maps = model.attention_weights(x)
    for i, (w, a) in enumerate(zip(maps, attn)):
        err = float((w.sum(-1) - (1 - a.lam().detach())).abs().max())
        claim.less(f"max |row sum − (1 − λ)|, layer {i}", err, 1e-12)  # float64 rounding
    # premise broken: one softmax map (standard attention)
    std = zoo.build("nope", seed=s, n_layers=1)
    with torch.no_grad():
        w = std.attention_weights(x)[0]
    lam = float(attn[0].lam().detach())
    claim.control.greater("max |row sum − (1 − λ)| for a single softmax map", float((w.sum(-1) - (1 - lam)).abs().max()),
                          1e-3, inverts="max |row sum − (1 − λ)|, layer 0")


@claim("ye2024-diff-lambda-init", YE,
       "λ_init = 0.8 − 0.6·exp(−0.3·(l − 1)) for layer l = 1..L, i.e. 0.2 at the first layer, rising to 0.8.",
       attribution="paper")
def test_lambda_init(claim):
    s = claim.seed(SEED)
    model = zoo.build("diff", seed=s, n_layers=6)
    attn = [m for m in model.modules() if isinstance(m, DiffAttention)]
    for depth, a in enumerate(attn):
        # deterministic (atol = rounding)
        claim.close(f"λ_init, layer {depth + 1}", a.lambda_init, tv.DIFF.predict("lambda_init", l=depth), atol=1e-12)
    # premise broken: the schedule indexed from 1, a layer-1 module built with depth = 1 (l instead of l − 1)
    d = model.d_model
    one_based = DiffAttention(d, 4, make_position("nope", d, 4, 64, True), True, depth=1)
    claim.control.far("λ_init of layer 1, schedule indexed from 1", one_based.lambda_init,
                      tv.DIFF.predict("lambda_init", l=0), atol=1e-3, inverts="λ_init, layer 1")


@claim("ye2024-diff-common-mode-gain", YE,
       "Subtracting a second map cancels noise common to both: for a needle over a shared Gaussian "
       "background the signal-to-noise ratio grows by (1 − p*)/|1 − p* − λ| (times the needle's own "
       "loss 1 − λe^{σ²/2−Δ}/(1 − p*)), about 1/(1 − λ) at long n.", attribution="derived")
def test_gain(claim):
    s = claim.seed(SEED)
    # Monte Carlo: the mean over 64 rows of the measured gain, and the theory at each row's measured p*;
    # SE of their difference = its spread over replicate draws
    def gain(n, k, common=True):
        return E.diff_noise_gain(0.5, n, rows=64, seed=k, common_mode=common)

    for n in (512, 4096, 16384):
        g = gain(n, s)
        diff = spread([g["gain"] - g["theory"]] + [(lambda h: h["gain"] - h["theory"])(gain(n, k))
                                                     for k in replicate_seeds(s)])
        claim.close(f"SNR gain, λ = 0.5, n = {n}", g["gain"], g["theory"], se=diff.sd, z=Z)
        if n == 4096:
            g4096, sd4096 = g, diff.sd
    claim.greater("SNR gain, λ = 0.5, n = 4096 (above 1)", g4096["gain"], 1.1)
    claim.note(f"without the needle's map-2 weight the formula gives {g['theory_without_signal_loss']:.3f} "
               f"at n = 16384 (measured {g['gain']:.3f})")
    # premise broken: independent noise in the two maps
    ind = gain(4096, s, common=False)
    ind_sd = spread([ind["gain"]] + [gain(4096, k, common=False)["gain"] for k in replicate_seeds(s)]).sd
    claim.control.far("SNR gain, independent noise, n = 4096, vs the common-mode theory", ind["gain"],
                      g4096["theory"], se=max(sd4096, ind_sd), z=Z, inverts="SNR gain, λ = 0.5, n = 4096")
    claim.control.less("SNR gain, independent noise, n = 4096", ind["gain"], 1.1,
                       inverts="SNR gain, λ = 0.5, n = 4096 (above 1)")
