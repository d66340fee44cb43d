"""What a trained memory does: how many items each query reads, and where the error falls.

Sec. 3.1.2 says that thanks to the sparsity of the weights "only a small number of memory
items can be addressed each time". :func:`addressing_stats` measures that on any set of
images: for every memory scale, the number of items with a non-zero weight per query, the
largest weight, the entropy of the weights, and how many distinct items are ever read most.
:func:`error_by_region` splits the per-pixel reconstruction error into defect pixels,
defect-free pixels of defective images, and normal images, which is the gap a
reconstruction-based detector lives on.

>>> from daad_lib import build_model
>>> from daad_lib.data import Stripes
>>> detector = build_model("daad", image_size=32, rates=(2, 2, 1), num_items=20).eval()
>>> stats = addressing_stats(detector, Stripes("train", 32, num_images=4))
>>> sorted(stats), sorted(stats[0])[:3]
([0, 1, 2, 3], ['distinct_top_items', 'entropy_mean', 'items_kept_max'])
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .data.cache import in_memory
from .models import Detector


@torch.no_grad()
def addressing_stats(detector: Detector, dataset: Dataset, batch_size: int = 32) -> dict[int, dict]:
    """Per memory scale (0 = finest): statistics of the addressing weights over every query of
    every image of ``dataset``. Empty for models without a memory."""
    detector.eval()
    device = next(detector.parameters()).device
    data = in_memory(dataset)
    kept: dict[int, list] = {}
    largest: dict[int, list] = {}
    entropy: dict[int, list] = {}
    top_counts: dict[int, torch.Tensor] = {}
    for start in range(0, len(data), batch_size):
        x = data.batch(torch.arange(start, min(start + batch_size, len(data))))["image"].to(device)
        _, weights = detector.generator(x)  # {scale: (B, Q, N)}
        for scale, w in weights.items():
            w = w.float().flatten(0, 1)  # (B*Q, N)
            kept.setdefault(scale, []).append((w > 0).sum(-1).cpu())
            largest.setdefault(scale, []).append(w.max(-1).values.cpu())
            entropy.setdefault(scale, []).append(-(w * torch.log(w.clamp_min(1e-12))).sum(-1).cpu())
            counts = torch.bincount(w.argmax(-1).cpu(), minlength=w.shape[-1])  # (N,)
            top_counts[scale] = top_counts.get(scale, 0) + counts
    stats = {}
    for scale in sorted(kept):
        k, top = torch.cat(kept[scale]).float(), torch.cat(largest[scale])
        stats[scale] = {
            "num_items": int(top_counts[scale].numel()),
            "queries": int(k.numel()),
            "items_kept_median": float(k.median()), "items_kept_mean": float(k.mean()),
            "items_kept_max": int(k.max()),
            "largest_weight_mean": float(top.mean()),
            "entropy_mean": float(torch.cat(entropy[scale]).mean()),
            "distinct_top_items": int((top_counts[scale] > 0).sum()),
        }
    return stats


def error_by_region(maps: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor) -> dict:
    """Mean per-pixel error (maps: (n, H, W), e.g. ``score_dataset(..., sigma=0)["maps"]``) inside
    the defects, on the defect-free pixels of defective images, and on normal images."""
    defect = masks.bool()  # (n, H, W)
    anomalous = labels.bool()[:, None, None].expand_as(defect)  # (n, H, W)
    regions = {"in_defects": defect, "outside_defects_of_defective_images": anomalous & ~defect,
               "normal_images": ~anomalous}
    result = {name: float(maps[where].mean()) if where.any() else None for name, where in regions.items()}
    if result["in_defects"] is not None and result["normal_images"]:
        result["defect_to_normal_ratio"] = result["in_defects"] / result["normal_images"]
    return result
