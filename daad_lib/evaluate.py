"""Run a trained detector over a test set: scores, AUROCs, a JSON-ready result."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .data.cache import in_memory
from .metrics import image_auroc, pixel_auroc
from .models import Detector
from .scoring import fuse, score_batch
from .train import select_device


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

    Returns ``recon`` (n,), ``align`` (n,) or None, ``labels`` (n,), ``maps`` (n, H, W)
    and ``masks`` (n, H, W) when the dataset has masks.
    """
    dev = select_device(device)
    detector.to(dev).eval()
    parts: dict[str, list] = {"recon": [], "align": [], "labels": [], "maps": [], "masks": []}
    batches = ordered_batches(dataset, batch_size, num_workers)
    for batch in tqdm(batches, disable=not progress, desc="score"):
        scores = score_batch(detector, batch["image"].to(dev), sigma)
        parts["recon"].append(scores["recon"].cpu())
        parts["maps"].append(scores["map"].cpu())
        parts["labels"].append(torch.as_tensor(batch["label"]))
        if scores["align"] is not None:
            parts["align"].append(scores["align"].cpu())
        if "mask" in batch:
            parts["masks"].append(batch["mask"])
    return {name: torch.cat(chunks) if chunks else None for name, chunks in parts.items()}


def evaluate(detector: Detector, dataset: Dataset, gamma: float | None = None, **kwargs) -> dict:
    """Image AUROC of A(x) (Eq. 7), of R(x) and L(x) alone, and pixel AUROC when masks exist.

    ``gamma`` defaults to the model's (0.9 for DAAD+, 1 otherwise).
    """
    scores = score_dataset(detector, dataset, **kwargs)
    gamma = detector.config.gamma if gamma is None else gamma
    labels = scores["labels"]
    fused = fuse(scores["recon"], scores["align"], gamma)
    result = {
        "variant": detector.config.variant,
        "image_auroc": image_auroc(fused, labels),
        "image_auroc_recon": image_auroc(scores["recon"], labels),
        "image_auroc_align": image_auroc(scores["align"], labels) if scores["align"] is not None else None,
        "gamma": gamma,
        "num_test": len(labels),
        "num_anomalous": int(labels.sum()),
        "pixel_auroc": None,
    }
    if scores["masks"] is not None and scores["masks"].any():
        result["pixel_auroc"] = pixel_auroc(scores["maps"], scores["masks"])
    return result
