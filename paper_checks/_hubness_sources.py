"""Sources cited by the hubness claims (one place, so ids and citations stay consistent)."""
from paper_checks.claims import Source

RADOVANOVIC2010_FIG1 = Source(
    "Miloš Radovanović, Alexandros Nanopoulos and Mirjana Ivanović", 2010,
    "Hubs in Space: Popular Nearest Neighbors in High-Dimensional Data",
    "JMLR 11:2487–2531, https://jmlr.org/papers/v11/radovanovic10a.html", section="Fig. 1")
RADOVANOVIC2010_FIG3 = Source(
    RADOVANOVIC2010_FIG1.authors, 2010, RADOVANOVIC2010_FIG1.title, RADOVANOVIC2010_FIG1.ref,
    section="Fig. 3 (N_k vs distance to the data mean)")
SU2022_EQ1 = Source("Su Jianlin", 2022, "“维度灾难”之Hubness现象浅析 (hubness and the curse of dimensionality)",
                    "https://kexue.fm/archives/9147", section="eq. 1")
SU2022_EQ2 = Source(SU2022_EQ1.authors, 2022, SU2022_EQ1.title, SU2022_EQ1.ref, section="eq. 2")
LIANG2022 = Source(
    "Yuanbang Liang, Jing Wu, Yu-Kun Lai and Yipeng Qin", 2022,
    "Exploring and Exploiting Hubness Priors for High-Quality GAN Latent Sampling",
    "ICML 2022, PMLR 162:13271–13284, arXiv:2206.06014",
    section="hub latents cluster centrally; the truncation trick")
_DERIVED = ("attnprobe", 2026, "Hubness: the d → ∞ k-occurrence law, its null and its query→key form (derived)",
            "theory/hubness.py; shared/notes/hubness.md")
ATTNPROBE_LIMIT = Source(*_DERIVED, section="hubness-limit-law")
ATTNPROBE_NULL = Source(*_DERIVED, section="hubness-null-model")
ATTNPROBE_QK = Source(*_DERIVED, section="hubness-query-key")
