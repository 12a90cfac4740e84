"""Sources and shared sizes of the depth claims (issue 11, items 1–3: gradient-depth, update-depth, collapse)."""
from __future__ import annotations

from paper_checks.claims import Source
from probes._depth import SLOPE_RESOLUTION

XIONG = Source("Ruibin Xiong, Yunchang Yang, Di He, Kai Zheng, Shuxin Zheng, Chen Xing, Huishuai Zhang, Yanyan Lan, "
               "Liwei Wang and Tie-Yan Liu", 2020, "On Layer Normalization in the Transformer Architecture",
               "arXiv:2002.04745 (ICML 2020)")
DEEPNET = Source("Hongyu Wang, Shuming Ma, Li Dong, Shaohan Huang, Dongdong Zhang and Furu Wei", 2022,
                 "DeepNet: Scaling Transformers to 1,000 Layers", "arXiv:2203.00555")
SU_8978 = Source("Su Jianlin", 2022, "训练1000层的Transformer究竟有什么困难？ (What exactly makes training a "
                 "1000-layer Transformer hard?)", "https://kexue.fm/archives/8978")
RESIDUAL = Source("Shufang Xie, Huishuai Zhang, Junliang Guo, Xu Tan, Jiang Bian, Hany Hassan Awadalla, Arul Menezes, "
                  "Tao Qin and Rui Yan", 2023, "ResiDual: Transformer with Dual Residual Connections",
                  "arXiv:2304.14802")

# Small sizes keep the three properties' claims near 20 s on 2 cores (issue 11: d = 32–64, L ∈ {6, 24}).
SIZES = dict(d_model=32, n_heads=4, batch=8, tokens=16)
DEPTHS = (6, 24)
SEEDS = 4          # per depth, for the slope's standard error
# A slope is "flat" below SLOPE_RESOLUTION (0.25) in magnitude: half the smallest non-zero rate these theories tell
# apart (1/2); probes._depth.classify uses the same resolution (widened to 3 SE where the seeds disagree more).
# The laws checked against it are asymptotic or hold in expectation up to model error (token correlations, finite
# depth), so a bound at the theories' resolution is the honest test; quantities that are exact expectations over
# the weights (Lemma 2) are checked against 4 standard errors of the seed mean.
RESOLUTION = SLOPE_RESOLUTION
