"""Run a trained detector over a test set: scores, every metric, a JSON-ready result.

:func:`metrics_from_scores` is the one place that turns raw scores into metrics; the
CLI, :func:`evaluate`, training's ``eval_every`` and the experiments all call it.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .data.cache import in_memory
from .device import select_device
from .metrics import aupr, aupro, f1_max, image_auroc, pixel_auroc
from .models import Detector
from .scoring import IMAGE_SCORES, fuse, image_score, score_batch, score_ranges


def ordered_batches(dataset: Dataset, batch_size: int, num_workers: int = 0):
    """The dataset in order, in batches: sliced from memory, or read by DataLoader workers."""
    if num_workers > 0:
        yield from DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
        return
    data = in_memory(dataset)
    for start in range(0, len(data), batch_size):
        yield data.batch(torch.arange(start, min(start + batch_size, len(data))))


@torch.no_grad()
def score_dataset(detector: Detector, dataset: Dataset, batch_size: int = 16, device: str = "auto",
                  sigma: float | None = None, progress: bool = False, num_workers: int = 0) -> dict:
    """Raw scores for every test image, in dataset order.

    Returns ``recon`` (n,), ``align`` (n,) or None, ``labels`` (n,), ``maps`` (n, H, W),
    ``masks`` (n, H, W) when the dataset has masks and ``valid`` (n, H, W) bool when its inputs
    are padded (the images' own pixels, the only ones R(x) and the pixel metrics read).
    """
    dev = select_device(device)
    detector.to(dev).eval()
    parts: dict[str, list] = {"recon": [], "align": [], "labels": [], "maps": [], "masks": [], "valid": []}
    batches = ordered_batches(dataset, batch_size, num_workers)
    for batch in tqdm(batches, disable=not progress, desc="score"):
        valid = batch.get("valid")  # (b, S, S) bool, padded inputs only
        scores = score_batch(detector, batch["image"].to(dev), sigma, None if valid is None else valid.to(dev))
        parts["recon"].append(scores["recon"].cpu())
        parts["maps"].append(scores["map"].cpu())
        parts["labels"].append(torch.as_tensor(batch["label"]))
        if scores["align"] is not None:
            parts["align"].append(scores["align"].cpu())
        if "mask" in batch:
            parts["masks"].append(batch["mask"])
        if valid is not None:
            parts["valid"].append(valid.cpu())
    return {name: torch.cat(chunks) if chunks else None for name, chunks in parts.items()}


def metrics_from_scores(scores: dict, gamma: float) -> dict:
    """Every metric of raw scores: ``recon`` (n,), ``align`` (n,) or None, ``labels`` (n,),
    and ``maps``, ``masks`` (n, H, W) for the pixel metrics (None without masks); with ``valid``
    (n, H, W) bool (padded inputs), the pixel metrics and the map-read scores count those pixels only.

    Image level, of A(x) (Eq. 7, min-max over this set, weight ``gamma``): ``image_auroc``,
    ``image_f1_max``, ``image_aupr``; of R(x) and L(x) alone: ``image_auroc_recon``,
    ``image_auroc_align``. Pixel level, when masks with defects exist: ``pixel_auroc``,
    ``pixel_aupro`` (to FPR 0.3), ``pixel_f1_max``; else None. With ``maps``, also
    ``image_auroc_by_score``: the image AUROC with R(x) read from the maps instead
    (:func:`auroc_by_image_score`).

    >>> scores = {"recon": torch.tensor([1.0, 2.0, 4.0]), "align": None, "labels": torch.tensor([0, 1, 1])}
    >>> metrics_from_scores(scores, gamma=1.0)["image_f1_max"]
    1.0
    """
    labels, recon, align = scores["labels"], scores["recon"], scores.get("align")
    fused = fuse(recon, align, gamma)
    result = {
        "image_auroc": image_auroc(fused, labels),
        "image_auroc_recon": image_auroc(recon, labels),
        "image_auroc_align": image_auroc(align, labels) if align is not None else None,
        "image_f1_max": f1_max(fused, labels)[0],
        "image_aupr": aupr(fused, labels),
        "pixel_auroc": None, "pixel_aupro": None, "pixel_f1_max": None,
    }
    if scores.get("maps") is not None:
        result["image_auroc_by_score"] = auroc_by_image_score(scores, gamma)
    masks = scores.get("masks")
    if masks is not None and masks.any():
        result.update(pixel_metrics(scores["maps"], masks, scores.get("valid")))
    return result


def pixel_metrics(maps: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor | None = None,
                  names: tuple[str, ...] = ("pixel_auroc", "pixel_aupro", "pixel_f1_max")) -> dict:
    """Pixel AUROC, AUPRO and F1-max of maps (n, H, W) against masks (n, H, W), over the ``valid``
    pixels only when given (padded inputs: the padding is neither normal nor defective)."""
    inside = (lambda t: t) if valid is None else (lambda t: t[valid])  # (n, H, W) or (P,) the pixels that count
    metric = {"pixel_auroc": lambda: pixel_auroc(inside(maps), inside(masks)),
              "pixel_aupro": lambda: aupro(maps, masks, valid=valid),
              "pixel_f1_max": lambda: f1_max(inside(maps), inside(masks))[0]}
    return {name: metric[name]() for name in names}


def auroc_by_image_score(scores: dict, gamma: float) -> dict:
    """Image AUROC of A(x) (Eq. 7) with R(x) replaced by each rule of
    :func:`daad_lib.scoring.image_score`: ``{"mean": ..., "map_max": ..., "map_top1pct": ...}``.
    ``"mean"`` is the paper's R(x), so it equals ``image_auroc``; the others are labelled
    options read from the smoothed anomaly maps and change nothing else."""
    return {rule: image_auroc(fuse(image_score(scores["recon"], scores["maps"], rule, scores.get("valid")),
                                   scores.get("align"), gamma), scores["labels"])
            for rule in IMAGE_SCORES}


def decision_threshold(scores: dict, gamma: float, ranges: dict) -> dict:
    """The optimistic threshold: F1-max of A(x) on this (test) set (``daad score
    --threshold-from test``; the default is :func:`normal_threshold`).

    A(x) is computed on the fixed ``ranges`` (the training images' min and max of R and L,
    the checkpoint's ``score_stats``), the scale on which a single image is scored. The
    threshold is the one that maximises F1 over the labelled test images, so it uses the
    test labels: it is the best possible cut on this set, optimistic for new images.
    """
    fused = fuse(scores["recon"], scores.get("align"), gamma, ranges)
    labels = torch.as_tensor(scores["labels"]).bool()
    f1, threshold = f1_max(fused, labels)
    flagged = fused >= threshold
    return {"threshold": threshold, "gamma": gamma, "f1_on_test": f1, "score_ranges": ranges,
            "rule": "F1-max of A(x) on the test set (uses the test labels); A(x) >= threshold is anomalous",
            "num_test": len(labels),
            "flagged": {"normal": int(flagged[~labels].sum()), "of_normal": int((~labels).sum()),
                        "anomalous": int(flagged[labels].sum()), "of_anomalous": int(labels.sum())}}


def normal_threshold(scores: dict, gamma: float, ranges: dict, quantile: float) -> dict:
    """The threshold ``daad score`` applies by default: a high ``quantile`` of A(x) over
    normal images the model did not train on (a held-out share of the normal training
    images). No test image and no label enters, so it is an honest cut for new images: by
    construction about ``1 - quantile`` of normal images like these score above it.

    A(x) is on the fixed training-image ``ranges``, as for a single scored image. The
    quantile is linearly interpolated (``torch.quantile``), so with fewer than
    ``1 / (1 - quantile)`` images it lies near their largest score.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"the threshold quantile must lie in (0, 1), got {quantile}")
    fused = fuse(scores["recon"], scores.get("align"), gamma, ranges)
    return {"threshold": float(torch.quantile(fused.double(), quantile)), "gamma": gamma,
            "score_ranges": ranges, "quantile": quantile, "num_images": len(fused),
            "rule": f"the {quantile:g} quantile of A(x) on {len(fused)} held-out normal training images "
                    f"(no test images, no labels); A(x) >= threshold is anomalous"}


@torch.no_grad()
def normal_range(detector: Detector, dataset: Dataset, **kwargs) -> dict:
    """Min and max of R(x) and L(x) over (training) images: the scale ``daad score`` uses."""
    scores = score_dataset(detector, dataset, **kwargs)
    return score_ranges(scores["recon"], scores["align"])


def evaluate(detector: Detector, dataset: Dataset, gamma: float | None = None, ranges: dict | None = None,
             **kwargs) -> dict:
    """Every metric of :func:`metrics_from_scores` on ``dataset``, plus the counts.

    ``gamma`` defaults to the model's (0.9 for DAAD+, 1 otherwise). With ``ranges`` (the
    checkpoint's ``score_stats``), also the ``decision`` of :func:`decision_threshold`.
    """
    scores = score_dataset(detector, dataset, **kwargs)
    gamma = detector.config.gamma if gamma is None else gamma
    result = {"variant": detector.config.variant, "gamma": gamma, "num_test": len(scores["labels"]),
              "num_anomalous": int(scores["labels"].sum()), **metrics_from_scores(scores, gamma)}
    types = getattr(dataset, "types", None)
    if types is not None and any(types):
        result["by_defect_type"] = metrics_by_type(scores, gamma, types)
    if ranges is not None:
        result["decision"] = decision_threshold(scores, gamma, ranges)
    return result


def metrics_by_type(scores: dict, gamma: float, types: list[str | None]) -> dict:
    """Image AUROC (and pixel AUROC, AUPRO where masks exist) of each defect type against the
    normal test images. A(x) is fused over the whole test set first, so the types' numbers
    are read from the same scores as the overall AUROC."""
    fused = fuse(scores["recon"], scores.get("align"), gamma)
    labels, masks = scores["labels"], scores.get("masks")
    normal = labels == 0
    out = {}
    for name in sorted({t for t in types if t is not None}):
        chosen = normal | torch.tensor([t == name for t in types])  # (n,) normal images + this type
        row = {"num_images": int((chosen & ~normal).sum()), "image_auroc": image_auroc(fused[chosen], labels[chosen])}
        if masks is not None and masks[chosen].any():
            valid = scores.get("valid")
            row.update(pixel_metrics(scores["maps"][chosen], masks[chosen], None if valid is None else valid[chosen],
                                     names=("pixel_auroc", "pixel_aupro")))
        out[name] = row
    return out
