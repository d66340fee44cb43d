"""Measuring what a memory does: addressing statistics and error by region."""
from __future__ import annotations

import pytest
import torch

from daad_lib import build_model
from daad_lib.analysis import addressing_stats, error_by_region
from daad_lib.data import Stripes


def test_addressing_stats_match_a_direct_computation():
    torch.manual_seed(0)
    detector = build_model("daad", image_size=32, widths=(8, 16, 32), rates=(2, 2, 1), num_items=20).eval()
    data = Stripes("test", 32, num_images=10)
    stats = addressing_stats(detector, data, batch_size=3)  # batches of 3, 3, 3, 1
    with torch.no_grad():
        _, weights = detector.generator(data.images)  # all 10 images at once
    for scale, w in weights.items():
        kept = (w > 0).sum(-1).flatten().float()
        assert stats[scale]["items_kept_median"] == kept.median().item()
        assert abs(stats[scale]["items_kept_mean"] - kept.mean().item()) < 1e-5
        assert abs(stats[scale]["largest_weight_mean"] - w.max(-1).values.mean().item()) < 1e-5
        assert stats[scale]["queries"] == 10 * 4
        assert stats[scale]["distinct_top_items"] == len(torch.unique(w.argmax(-1)))


def test_sharper_addressing_reads_fewer_items():
    data = Stripes("train", 32, num_images=8)
    kept = {}
    for temperature in (1.0, 0.01):
        torch.manual_seed(0)
        detector = build_model("daad", image_size=32, widths=(8, 16, 32), rates=(2, 2, 1), num_items=50,
                               temperature=temperature).eval()
        kept[temperature] = addressing_stats(detector, data)[0]["items_kept_median"]
    assert kept[0.01] < kept[1.0] / 3


def test_error_by_region_by_hand():
    maps = torch.zeros(3, 4, 4)
    masks = torch.zeros(3, 4, 4)
    labels = torch.tensor([1, 1, 0])
    maps[0, :2, :2], masks[0, :2, :2] = 4.0, 1  # a defect of 4 pixels with error 4
    maps[1] = 1.0
    masks[1, 3, 3] = 1  # defect pixel error 1, the 15 others 1
    maps[2] = 0.5
    regions = error_by_region(maps, masks, labels)
    assert regions["in_defects"] == pytest.approx((4 * 4.0 + 1.0) / 5)
    assert regions["outside_defects_of_defective_images"] == pytest.approx((12 * 0.0 + 15 * 1.0) / 27)
    assert regions["normal_images"] == pytest.approx(0.5)
    assert regions["defect_to_normal_ratio"] == pytest.approx(3.4 / 0.5)
