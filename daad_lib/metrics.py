"""Detection metrics the field reports, from scikit-learn and scipy.

* :func:`image_auroc`, :func:`pixel_auroc`: area under the ROC curve (``roc_auc_score``).
* :func:`aupr`: average precision (``average_precision_score``), the step-wise area under
  the precision-recall curve (not the trapezoidal ``auc`` of the curve, which is optimistic).
* :func:`f1_max`: the best F1 over all thresholds of ``precision_recall_curve``, and that
  threshold (a score ``>= threshold`` is called anomalous).
* :func:`aupro`: the area under the per-region-overlap curve of MVTec AD (Bergmann et al.,
  IJCV 2021), integrated up to a false-positive rate of 0.3 and divided by 0.3.

Labels and masks: 1 (or > 0.5) = anomalous, 0 = normal. Scores: higher = more anomalous.

>>> scores, labels = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
>>> round(image_auroc(scores, labels), 3), round(aupr(scores, labels), 3)
(0.75, 0.833)
>>> f1, threshold = f1_max(scores, labels); round(f1, 3), threshold
(0.8, 0.35)
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score


def binary_labels(labels, what: str, unit: str = "test images") -> np.ndarray:
    """Flat 0/1 labels, or a clear error when one class is missing."""
    truth = (np.asarray(labels, dtype=np.float32).reshape(-1) > 0.5).astype(np.uint8)
    if truth.size == 0 or truth.min() == truth.max():
        raise ValueError(f"{what} needs both normal (0) and anomalous (1) {unit}")
    return truth


def flat_scores(scores, truth: np.ndarray, dtype=np.float64) -> np.ndarray:
    values = np.asarray(scores, dtype=dtype).reshape(-1)
    if values.shape != truth.shape:
        raise ValueError(f"{values.size} scores for {truth.size} labels")
    return values


def image_auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of image scores; labels 1 = anomalous, 0 = normal."""
    truth = binary_labels(labels, "AUROC")
    return float(roc_auc_score(truth, flat_scores(scores, truth)))


def pixel_auroc(maps: torch.Tensor, masks: torch.Tensor) -> float:
    """AUROC over every pixel of the test set: maps (B, H, W) against binary masks (B, H, W)."""
    truth = binary_labels(masks, "pixel AUROC", "pixels in the masks")
    return float(roc_auc_score(truth, flat_scores(maps, truth, np.float32)))


def aupr(scores, labels) -> float:
    """Average precision: Σ_k (R_k − R_{k−1}) P_k over the thresholds (sklearn's
    ``average_precision_score``); image scores (n,) or flattened pixel maps."""
    truth = binary_labels(labels, "AUPR", "labels")
    return float(average_precision_score(truth, flat_scores(scores, truth)))


def f1_max(scores, labels) -> tuple[float, float]:
    """The highest F1 over all thresholds, and the threshold that reaches it.

    Image scores (n,) with labels (n,), or maps (B, H, W) with masks (B, H, W) for the
    pixel-level F1-max. Predicting ``score >= threshold`` as anomalous gives that F1.
    """
    truth = binary_labels(labels, "F1-max", "labels")
    precision, recall, thresholds = precision_recall_curve(truth, flat_scores(scores, truth))
    # the curve's last point (precision 1, recall 0) has no threshold
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=precision + recall > 0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def label_regions(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected defect regions of every mask (8-connectivity within an image, never across
    images): labels (B, H, W) with 0 = background and 1..K = regions, and K."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-neighbourhood in (H, W); nothing along the image axis
    regions, count = ndimage.label(masks, structure=structure)
    return regions, int(count)


def pro_curve(maps, masks, valid=None) -> tuple[np.ndarray, np.ndarray]:
    """The per-region-overlap curve at every distinct score threshold.

    Returns ``fpr`` and ``pro`` (both ascending, starting at 0): for the pixels with a score
    ``>= t``, the fraction of defect-free pixels that are flagged, and the mean over all
    ground-truth regions of the fraction of the region that is flagged. Computed at every
    threshold at once: each pixel adds 1/#defect-free to the FPR or 1/(K·|region|) to the
    PRO, and cumulative sums over the pixels sorted by score give both curves. With ``valid``
    (B, H, W) bool, only those pixels count (padded inputs: the images' own pixels).
    """
    masks = np.asarray(masks, dtype=np.float32) > 0.5  # (B, H, W)
    scores = np.asarray(maps, dtype=np.float32)
    if scores.shape != masks.shape or masks.ndim != 3:
        raise ValueError(f"AUPRO needs maps and masks of the same shape (B, H, W), got "
                         f"{scores.shape} and {masks.shape}")
    keep = np.ones(masks.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool).reshape(-1)  # (P,)
    regions, count = label_regions(masks & keep.reshape(masks.shape))
    normal = (~masks).reshape(-1) & keep  # (P,)
    if count == 0 or not normal.any():
        raise ValueError("AUPRO needs masks with both defect and defect-free pixels")
    region_sizes = np.bincount(regions.reshape(-1), minlength=count + 1)  # (K + 1,), [0] = background
    pro_step = np.zeros(count + 1)
    pro_step[1:] = 1.0 / (count * region_sizes[1:])
    pro_step = pro_step[regions.reshape(-1)][keep]  # (P',), 0 on defect-free pixels
    scores, normal = scores.reshape(-1)[keep], normal[keep]  # (P',) the pixels that count
    order = np.argsort(-scores, kind="stable")  # (P',) most anomalous first
    sorted_scores = scores[order]
    fpr = np.cumsum(normal[order]) / normal.sum()  # counts: exactly 1 at the end
    pro = np.cumsum(pro_step[order])
    # a threshold flags all pixels of its score at once: keep the last pixel of each score
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    fpr = np.r_[0.0, np.minimum(fpr[last], 1.0)]
    pro = np.r_[0.0, np.minimum(pro[last], 1.0)]
    return fpr, pro


def aupro(maps, masks, fpr_limit: float = 0.3, valid=None) -> float:
    """Area under the PRO curve for FPR in [0, ``fpr_limit``], divided by ``fpr_limit``.

    The MVTec AD definition: connected ground-truth regions (8-connectivity,
    ``scipy.ndimage.label``), the mean per-region overlap against the false-positive rate
    on the defect-free pixels, integrated by the trapezoidal rule with the curve
    interpolated linearly at ``fpr_limit``. 1 is perfect; a random map scores about
    ``fpr_limit / 2``.

    Args:
        maps: anomaly maps (B, H, W), higher = more anomalous.
        masks: ground truth (B, H, W), > 0.5 = defect.
        valid: optional (B, H, W) bool, the pixels that count (padded inputs: the images' own).
    """
    if not 0 < fpr_limit <= 1:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    fpr, pro = pro_curve(maps, masks, valid)
    inside = fpr <= fpr_limit
    x, y = fpr[inside], pro[inside]
    if x[-1] < fpr_limit:  # close the area at the limit, on the segment that crosses it
        after = np.searchsorted(fpr, fpr_limit, side="right")  # first point with fpr > limit
        weight = (fpr_limit - fpr[after - 1]) / (fpr[after] - fpr[after - 1])
        x = np.r_[x, fpr_limit]
        y = np.r_[y, pro[after - 1] + weight * (pro[after] - pro[after - 1])]
    return float(auc(x, y) / fpr_limit)
