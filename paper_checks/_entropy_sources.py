"""Sources and shared settings of the entropy/length claims (issue 6)."""
from __future__ import annotations

from functools import lru_cache

from paper_checks.claims import Source

SU_8823 = Source("Su Jianlin", 2021, "从熵不变性看Attention的Scale操作 (The scale of attention seen from entropy "
                 "invariance)", "https://kexue.fm/archives/8823", section="Laplace derivation, log n scale")
SU_9034 = Source("Su Jianlin", 2022, "熵不变性Softmax的一个快速推导 (A quick derivation of entropy-invariant softmax)",
                 "https://kexue.fm/archives/9034", section="H ≈ log n − λ(s_max − s̄)")
SU_9019 = Source("Su Jianlin", 2022, "听说Attention与Softmax更配哦～ (Attention goes better with softmax)",
                 "https://kexue.fm/archives/9019", section="relu² and length")
NAKANISHI = Source("Ken M. Nakanishi", 2025, "Scalable-Softmax Is Superior for Attention", "arXiv:2501.19399",
                   section="§2, Fig. 1")
CHIANG = Source("David Chiang and Peter Cholak", 2022, "Overcoming a Theoretical Limitation of Self-Attention",
                "arXiv:2202.12172 (ACL 2022)", section="log-length scaled attention")
MILLER = Source("Evan Miller", 2023, "Attention Is Off By One",
                "https://www.evanmiller.org/attention-is-off-by-one.html", section="softmax₁")
RAMAPURAM = Source("Jason Ramapuram, et al.", 2024, "Theory, Analysis, and Best Practices for Sigmoid "
                   "Self-Attention", "arXiv:2409.04431", section="bias b = −log n")
BONDARENKO = Source("Yelysei Bondarenko, Markus Nagel and Tijmen Blankevoort", 2023,
                    "Quantizable Transformers: Removing Outliers by Helping Attention Heads Do Nothing",
                    "arXiv:2306.12929 (NeurIPS 2023)", section="§4.1 clipped softmax")
YE = Source("Tianzhu Ye, Li Dong, Yuqing Xia, Yutao Sun, Yi Zhu, Gao Huang and Furu Wei", 2024,
            "Differential Transformer", "arXiv:2410.05258", section="§2.1, Eq. 1-3")

SEED = 0
# 128 rows and n ≤ 2^14 keep this claims under a minute on 2 cores; the gate still applies.
SMALL = dict(rows=128, n_max=1 << 14, noise_needle=False)
D = 64  # the probe's default key dimension


def small(seed: int, **over) -> dict:
    """The probe settings of these claims at ``seed`` (pass the value ``claim.seed(...)`` returned)."""
    return {**SMALL, "seed": int(seed), **over}


def exact_s(cls, s: float):
    """An SSMax-like normaliser with s exactly ``s`` in float64 (the class default dtype is float32)."""
    import torch

    norm = cls(1, s).double()
    with torch.no_grad():
        norm.s.fill_(s)
    return norm


def subject(name: str):
    """A zoo name, or a reference ('ref:flat', 'ref:chiang') or 'ssmax0.43' as a weights function."""
    from probes import entropy as E
    from probes.designs.normalizers import SSMax

    if name.startswith("ref:"):
        return E.reference(name[4:])
    if name == "ssmax0.43":
        return E.from_normalizer(exact_s(SSMax, 0.43), "ssmax(s=0.43)")
    return name


@lru_cache(maxsize=None)
def run(name: str, seed: int):
    """The entropy probe on :func:`subject` ``(name)`` at ``seed``, cached per (name, seed) for the session."""
    from probes import entropy as E

    return E.probe(subject(name), **small(seed))


def single_run_sd(subj, seed: int, ns, *, quantity: str = "H", rows: int = SMALL["rows"], head: int = 0,
                  main: dict | None = None) -> dict:
    """Per n, the :class:`~paper_checks._stats.Spread` of the probe's P1 row mean ``quantity`` ("H", "mass",
    "zero", ...) over replicate draws (seeds from :func:`~paper_checks._stats.replicate_seeds`), plus the
    claim's own value at each n when ``main`` (the result's ``*_by_n`` dict) is given.

    The probe's rows share one key draw per n, so the rows are not independent: the SE of a row mean
    is the spread of that mean over independent draws, not the per-row spread over √rows. Its ``sd``
    is the standard error of one run. The measurement is the probe's own (``_measure_noise``).
    """
    import torch

    from probes import entropy as E
    from paper_checks._stats import replicate_seeds, spread

    wf = E.weights_function(subj, head=head)
    ns = tuple(int(n) for n in ns)
    reps = [E.measure_noise(wf, ns, rows, D, s, torch.float64, "cpu")[quantity] for s in replicate_seeds(seed)]
    out = {}
    for i, n in enumerate(ns):
        vals = [r[i] for r in reps] + ([main[str(n)]] if main is not None else [])
        out[n] = spread(vals)
    return out


@lru_cache(maxsize=None)
def run_sd(name: str, seed: int, ns: tuple, quantity: str = "H") -> dict:
    """:func:`single_run_sd` for :func:`run` ``(name, seed)``, cached."""
    r = run(name, seed)
    main = {"H": r.entropy_by_n, "mass": r.row_mass_by_n, "zero": r.zero_fraction_by_n,
            "maxw": r.max_weight_by_n}[quantity]
    return single_run_sd(subject(name), seed, ns, quantity=quantity, main=main)


def slope_sd(subj, seed: int, *, rows: int = SMALL["rows"], head: int = 0, main: float | None = None):
    """The spread of the probe's least-squares slope dH/d ln n over [512, n_max] across replicate draws."""
    from probes import entropy as E
    from paper_checks._stats import spread

    ns = tuple(2 ** k for k in range(9, SMALL["n_max"].bit_length()))
    H = single_run_sd(subj, seed, ns, rows=rows, head=head)
    curves = list(zip(*[H[n].values for n in ns]))
    vals = [E.fit_entropy_curve(ns, list(c))[0] for c in curves] + ([main] if main is not None else [])
    return spread(vals)


PRESS = Source("Ofir Press, Noah A. Smith and Mike Lewis", 2022, "Train Short, Test Long: Attention with Linear "
               "Biases Enables Input Length Extrapolation", "arXiv:2108.12409 (ICLR 2022)", section="§3, Fig. 3")
