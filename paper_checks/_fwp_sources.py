"""Sources cited by the norm-invariance, fast-weight and scan-and-snap claims."""
from paper_checks.claims import Source

ZHANG2019 = Source("Biao Zhang, Rico Sennrich", 2019, "Root Mean Square Layer Normalization",
                   "NeurIPS 2019, arXiv 1910.07467; invariance table in the README of github.com/bzhangGo/rmsnorm",
                   section="§3 and the README table (after Ba et al. 2016, Table 1)")
KATHAROPOULOS2020 = Source("Angelos Katharopoulos, Apoorv Vyas, Nikolaos Pappas, François Fleuret", 2020,
                           "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention",
                           "ICML 2020, arXiv 2006.16236", section="§3.2–3.4, Eqs. 6–12 and 16–20")
SCHLAG2021 = Source("Imanol Schlag, Kazuki Irie, Jürgen Schmidhuber", 2021,
                    "Linear Transformers Are Secretly Fast Weight Programmers", "ICML 2021, arXiv 2102.11174")
TIAN2023 = Source("Yuandong Tian, Yiping Wang, Beidi Chen, Simon Du", 2023,
                  "Scan and Snap: Understanding Training Dynamics and Token Composition in 1-layer Transformer",
                  "NeurIPS 2023, arXiv 2305.16380")
