"""Numbers that papers report, in one place: the experiments, the book and the README compare
our runs against these and nothing else types them again.

All are image-level AUROC. ``DAAD_*``: Hou et al., ICCV 2021 (``../shared/paper``), 256 px,
1000 epochs; ``DCAE_*``: the DCAE baseline of Deep SVDD (Ruff et al., ICML 2018, Table 1), as read
in ``results/dcae/recipe.md`` (still to be checked against the paper's PDF).
"""
from __future__ import annotations

# DAAD Table 3: MVTec AD bottle and the 15-category mean, per model of the table
DAAD_TABLE3_BOTTLE = {"ae": 0.955, "memae": 0.954, "ae_skip": 0.713, "daad": 0.975, "daad_plus": 0.976}
DAAD_TABLE3_MEAN = {"ae": 0.794, "memae": 0.802, "ae_skip": 0.736, "daad": 0.845, "daad_plus": 0.895}
# DAAD Table 4: the 15-category mean of DAAD per division rate r_h = r_w
DAAD_TABLE4_MEAN = {1: 0.716, 2: 0.784, 4: 0.821, 8: 0.845, 16: 0.813}
# DAAD Table 5: the 15-category mean of AE and DAAD per anomaly-score variant, in the table's order
DAAD_TABLE5_MEAN = {"ae": [0.794, 0.812, 0.817, 0.819, 0.835], "daad": [0.845, 0.847, 0.855, 0.874, 0.895]}
# DAAD Table 2: one-class MNIST / CIFAR-10, mean over classes: "Ours", and other rows for scale
DAAD_TABLE2_OURS = {"mnist": 0.990, "cifar10": 0.753}
DAAD_TABLE2_OTHERS = {"mnist": {"GANomaly": 0.928, "MemAE": 0.975, "OCGAN": 0.975},
                      "cifar10": {"GANomaly": 0.695, "MemAE": 0.609, "OCGAN": 0.656}}
# Deep SVDD Table 1 (Ruff et al., ICML 2018), DCAE row: per normal class 0-9, mean over 10 seeds;
# checked against the paper's PDF on 2026-12-07 (results/dcae/recipe.md)
DCAE_ONE_CLASS = {
    "mnist": [0.976, 0.983, 0.854, 0.867, 0.865, 0.782, 0.946, 0.923, 0.865, 0.904],
    "cifar10": [0.591, 0.574, 0.489, 0.584, 0.540, 0.622, 0.512, 0.586, 0.768, 0.673],
}
