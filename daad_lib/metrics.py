"""Detection metrics: image-level and pixel-level AUROC (scikit-learn)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score


def image_auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of image scores; labels 1 = anomalous, 0 = normal."""
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        raise ValueError("AUROC needs both normal (0) and anomalous (1) test images")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def pixel_auroc(maps: torch.Tensor, masks: torch.Tensor) -> float:
    """AUROC over every pixel of the test set: maps (B, H, W) against binary masks (B, H, W)."""
    truth = (np.asarray(masks).reshape(-1) > 0.5).astype(np.uint8)
    if truth.min() == truth.max():
        raise ValueError("pixel AUROC needs masks with both defect and defect-free pixels")
    return float(roc_auc_score(truth, np.asarray(maps, dtype=np.float32).reshape(-1)))
