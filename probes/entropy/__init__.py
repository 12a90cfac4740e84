"""Entropy against length, and needle fading, for any attention weights function.

Probes (n = 2⁶ … 2¹⁶ keys, rows chunked so memory stays bounded, seeded):

* **P1 pure noise.** k ~ N(0, I_d), q uniform on the sphere |q| = √d, so the
  logits q·k/√d are exactly i.i.d. N(0, 1) in every row.
  H(n) of each row (of |w|/Σ|w|, so sub- or super-normalised rows and signed
  DiffAttn rows are covered), the least-squares slope b of H in ln n over
  [512, n_max], the local slope at the top, ΔH = H(n_max) − H(512), the row
  mass Σw, the largest share and the fraction of dead (all-zero) rows.
  Verdicts: ``collapsed`` (dead rows, H(n_max) < 2 or a share > ½),
  ``entropy-invariant`` (|b| ≤ 0.1, |ΔH| ≤ 0.5, local slope ≥ −0.05 and
  H(512) within 0.5 of softmax's), ``standard-like`` (0.9 ≤ b ≤ 1.1), else
  ``partially-compensated``.
* **P2 needle over a flat background.** Logits [Δ, 0, …, 0], Δ ∈ {2, 3, 5};
  p* = |w₀|/Σ|w|, fade ratio p*(n_max)/p*(512); ``no-fading`` iff the ratio at
  Δ = 3 is ≥ ½, else ``fading``.
* **P3 needle over noise.** As P1 with key 0's logit set to Δ = 3.

No verdict from non-finite numbers: NaN/Inf weights, row entropies, row masses,
shares or a non-finite slope raise :class:`probes.errors.Diverged` naming the design
and the quantity (rows that are all zero are dead rows, counted, not diverged).

Theory (``theory.entropy``, ``theory.softmax_variants``) gives each design's
row: mean-field H(n), slope and p*(n), classified by the same rules. A length
multiplier m(n) is judged by the mean field only while mσ ≤ √(ln n) over the
judged range, as ``collapsed`` when mσ ≥ √(2 ln n) throughout, and not at all
in between (the crossover; e.g. SSMax at s = 0.43). The gate: standard softmax,
on the same inputs, must match H = ln n − ½ within :data:`GATE_TOL` at every
n ≥ 512, else every P1 verdict is ``gate-failed``.

Sources: Su, kexue.fm/archives/8823 and 9034; Nakanishi 2025, arXiv 2501.19399;
Chiang & Cholak 2022, arXiv 2202.12172. A row of a causal design that sees t
keys is a row here with n = t.

Position terms: a logit bias (ALiBi's −m_h|i − j|, T5's bucketed table, URPE's
B) is added, for one query row, to the noise logits before the normaliser, and
URPE's multiplier C multiplies the weights; the row is the last position for a
causal design (distances 0..n−1) and the centre n/2 for a bidirectional one, the
head is ``--entropy-head``. Theory, under a softmax-like normaliser: any bias row
and multiplier give the mean field H(π) − σ²/2, π ∝ |C|e^{b} from the design's row
(``theory.entropy.BIASED_MEAN_FIELD``; ALiBi's closed form ``ALIBI``: H saturates
at H∞); with too few effective keys the exact finite-key expectation
(``FINITE_KEYS``, :func:`finite_key_entropy`) gives the P1 verdict instead; the
P2 needle share over any bias row is exact (``BIASED_NEEDLE``). relu² with a bias
row: its own mean field (``RELU2_BIASED``). RoPE needs nothing (a rotation of i.i.d. Gaussian q, k keeps the
logits i.i.d.); Shaw's key term depends on q and is not applied (noted).

Every number compared with a measurement is a theory prediction (``th.X.predict`` /
``th.X.function``); the package keeps only the quadratures, the grids and the array
plumbing. Values computed from the very draw that was measured are named
``..._exact_for_this_draw`` (or ``theory_at_measured_p``) and never used as theory.

Modules, one concern each: :mod:`~probes.entropy.weights` (weights functions and the position
row applied to them), :mod:`~probes.entropy.measure` (inputs and measurements),
:mod:`~probes.entropy.verdicts` (thresholds and verdict rules), :mod:`~probes.entropy.finite_keys`
(finite-key numerics), :mod:`~probes.entropy.theory_rows` (theory dispatch),
:mod:`~probes.entropy.core` (the gate, the probe and its result), :mod:`~probes.entropy.report`
(Markdown, plots, the zoo verdict table) and :mod:`~probes.entropy.contract` (the probe contract).
``from probes import entropy as E`` gives all of them as before.
"""
from __future__ import annotations

from probes.entropy.contract import JSON_KEY, PROBE, EntropyProbe, add_audit_arguments, audit
from probes.entropy.core import _GATE_CACHE, EntropyResult, _ns, _unapplied_position_notes, _zoo_with_longer_tables, \
    gate, probe
from probes.entropy.finite_keys import finite_key_entropy
from probes.entropy.measure import (CHUNK_ELEMENTS, _needle_query, _row_stats, _sphere, _weights_chunks, diff_noise_gain,
                                    measure_noise, needle_flat, noise_logits)
from probes.entropy.report import markdown, verdict_table, verdict_table_markdown, write_plots
from probes.entropy.theory_rows import (_bias_row, _effective_bias, _positioned_theory, _relu2_biased_mean_field,
                                        _row_entropy_terms, sphere_entropy_offset, theory_row)
from probes.entropy.verdicts import (DELTAS, FADE_DELTA, GATE_TOL, P1_VERDICTS, P2_VERDICTS, SIGMA, TRAIN_N,
                                     classify_entropy, classify_needle, fit_entropy_curve)
from probes.entropy.weights import (APPLIED_POSITIONS, UNAPPLIED_POSITIONS, UNIT_MULTIPLIER, PositionRow,
                                    WeightsFunction, _find_position, _from_diff, _from_linear, _Named, _slice_head,
                                    _theory_multiplier, from_callable, from_normalizer, reference, weights_function,
                                    with_position, without_position)

# the old private names (paper_checks and tests used them before they were public)
_measure_noise = measure_noise
_fit = fit_entropy_curve
_needle_flat = needle_flat

__all__ = ["JSON_KEY", "EntropyResult", "WeightsFunction", "PositionRow", "weights_function", "with_position",
           "without_position", "from_callable", "from_normalizer", "finite_key_entropy", "reference", "noise_logits",
           "sphere_entropy_offset", "diff_noise_gain", "verdict_table", "verdict_table_markdown", "probe", "gate",
           "classify_entropy", "classify_needle", "fit_entropy_curve", "measure_noise", "needle_flat", "theory_row",
           "audit", "add_audit_arguments", "markdown", "write_plots", "EntropyProbe", "PROBE", "P1_VERDICTS",
           "P2_VERDICTS", "GATE_TOL", "TRAIN_N", "DELTAS", "FADE_DELTA", "SIGMA", "CHUNK_ELEMENTS",
           "APPLIED_POSITIONS", "UNAPPLIED_POSITIONS", "UNIT_MULTIPLIER"]
