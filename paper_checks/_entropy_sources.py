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
SMALL = dict(rows=128, n_max=1 << 14, noise_needle=False, seed=SEED)


def exact_s(cls, s: float):
    """An SSMax-like normaliser with s exactly ``s`` in float64 (the class default dtype is float32)."""
    import torch

    norm = cls(1, s).double()
    with torch.no_grad():
        norm.s.fill_(s)
    return norm


@lru_cache(maxsize=None)
def run(name: str):
    """The entropy probe on a zoo name or reference ('ref:flat', 'ref:chiang', 'ssmax0.43'), cached per session."""
    from probes import entropy as E
    from probes.designs.normalizers import SSMax

    if name.startswith("ref:"):
        subject = E.reference(name[4:])
    elif name == "ssmax0.43":
        subject = E.from_normalizer(exact_s(SSMax, 0.43), "ssmax(s=0.43)")
    else:
        subject = name
    return E.probe(subject, **SMALL)

PRESS = Source("Ofir Press, Noah A. Smith and Mike Lewis", 2022, "Train Short, Test Long: Attention with Linear "
               "Biases Enables Input Length Extrapolation", "arXiv:2108.12409 (ICLR 2022)", section="§3, Fig. 3")
