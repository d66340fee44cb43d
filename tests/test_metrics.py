"""Metrics against cases computed by hand and against a slow reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from daad_lib.metrics import aupr, aupro, f1_max, image_auroc, label_regions, pixel_auroc, pro_curve


def two_region_case():
    """One 3x4 image with regions A = {(0,0), (0,1)} and B = {(2,3)}; 9 defect-free pixels.

    Thresholds, flagged pixels, (FPR, PRO):
      0.9  A(0,0)            (0,   (1/2 + 0)/2 = 1/4)
      0.8  one normal        (1/9, 1/4)
      0.5  B and one normal  (2/9, (1/2 + 1)/2 = 3/4)   a sloped segment
      0.3  A(0,1)            (2/9, 1)
      0    the rest          (1,   1)
    """
    mask = torch.zeros(1, 3, 4)
    mask[0, 0, :2] = 1
    mask[0, 2, 3] = 1
    scores = torch.zeros(1, 3, 4)
    scores[0, 0, 0], scores[0, 0, 1], scores[0, 2, 3] = 0.9, 0.3, 0.5
    scores[0, 1, 0], scores[0, 1, 1] = 0.8, 0.5
    return scores, mask


def test_pro_curve_by_hand():
    fpr, pro = pro_curve(*two_region_case())
    np.testing.assert_allclose(fpr, [0, 0, 1 / 9, 2 / 9, 2 / 9, 1])
    np.testing.assert_allclose(pro, [0, 1 / 4, 1 / 4, 3 / 4, 1, 1])


def test_aupro_by_hand_with_the_fpr_cut():
    maps, masks = two_region_case()
    # to 0.3: 1/9 * 1/4 + 1/9 * (1/4 + 3/4)/2 + (0.3 - 2/9) * 1
    area = 1 / 36 + 1 / 18 + (0.3 - 2 / 9)
    assert aupro(maps, masks) == pytest.approx(area / 0.3)
    # cut inside the sloped segment: PRO(0.15) = 1/4 + (0.15 - 1/9) * 9 * (3/4 - 1/4)
    pro_at_cut = 1 / 4 + (0.15 - 1 / 9) * 9 / 2
    area = 1 / 36 + (0.15 - 1 / 9) * (1 / 4 + pro_at_cut) / 2
    assert aupro(maps, masks, fpr_limit=0.15) == pytest.approx(area / 0.15)
    assert aupro(maps, masks, fpr_limit=1.0) == pytest.approx(1 / 36 + 1 / 18 + 7 / 9)


def test_regions_are_8_connected_and_never_span_images():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 0, :2] = masks[0, 1, 2] = True  # an L touching a pixel diagonally: one region
    masks[1, 0, :2] = True  # same place, next image: its own region
    _, count = label_regions(masks)
    assert count == 2
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, 1, 2] = 1.0  # flag only the diagonal pixel
    fpr, pro = pro_curve(maps, masks)
    # one region of 3 pixels, 1 covered: (1/3 + 0)/2; 4-connectivity would give 3 regions: (0 + 1 + 0)/3
    assert pro[1] == pytest.approx((1 / 3 + 0) / 2) and fpr[1] == 0


def reference_aupro(maps: np.ndarray, masks: np.ndarray, limit: float) -> float:
    """The definition, one threshold at a time (slow): per-region overlap and FPR."""
    regions, count = label_regions(masks)
    normal = ~masks
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        flagged = maps >= t
        overlap = np.mean([flagged[regions == k].mean() for k in range(1, count + 1)])
        points.append((flagged[normal].mean(), overlap))
    fpr, pro = map(np.array, zip(*points))
    grid = fpr[fpr <= limit]
    keep = np.r_[grid, limit]
    # the curve may have vertical steps: interpolate on the last point of each FPR
    last = np.searchsorted(fpr, limit, side="right")
    y_at_limit = np.interp(limit, fpr[last - 1:last + 1], pro[last - 1:last + 1])
    ys = np.r_[pro[fpr <= limit], y_at_limit]
    return float(np.sum(np.diff(keep) * (ys[1:] + ys[:-1]) / 2) / limit)


def test_aupro_matches_the_slow_definition_on_random_maps():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 16, 16), bool)
    masks[0, 2:6, 2:5] = masks[0, 10:12, 9:15] = True  # two regions in one image
    masks[1, 5:9, 5:9] = True
    maps = rng.random((3, 16, 16)).astype(np.float32) + masks * 0.4
    maps = np.round(maps, 2)  # ties between pixels, as in real maps
    for limit in (0.05, 0.3, 1.0):
        assert aupro(maps, masks, limit) == pytest.approx(reference_aupro(maps, masks, limit), abs=1e-9)


def test_aupro_perfect_random_and_bad_input():
    masks = torch.zeros(2, 8, 8)
    masks[0, 2:4, 2:4] = 1
    assert aupro(masks * 2 + 1, masks) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    random_maps = rng.random((200, 8, 8))
    random_masks = rng.random((200, 8, 8)) > 0.9
    assert aupro(random_maps, random_masks) == pytest.approx(0.15, abs=0.01)
    with pytest.raises(ValueError, match="both defect and defect-free"):
        aupro(torch.rand(1, 4, 4), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro(masks, masks, fpr_limit=0)
    with pytest.raises(ValueError, match="same shape"):
        aupro(torch.rand(2, 8, 7), masks)


def test_f1_max_by_hand():
    scores, labels = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    # threshold 0.8: P 1, R 1/2 -> 2/3; 0.4: P 1/2, R 1/2; 0.35: P 2/3, R 1 -> 4/5; 0.1: P 1/2, R 1
    f1, threshold = f1_max(scores, labels)
    assert f1 == pytest.approx(0.8) and threshold == pytest.approx(0.35)
    # pixel level: maps and masks of any shape are flattened
    masks = torch.tensor(labels, dtype=torch.float32).reshape(1, 2, 2)
    assert f1_max(torch.tensor(scores).reshape(1, 2, 2), masks) == pytest.approx((f1, threshold))


def test_aupr_is_average_precision_by_hand():
    # ranked: 0.8 (1), 0.4 (0), 0.35 (1), 0.1 (0): AP = 1/2 * 1 + 1/2 * 2/3
    assert aupr([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6)
    assert aupr([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1]) == pytest.approx(1.0)


def test_aurocs_and_one_class_errors():
    assert image_auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    maps, masks = two_region_case()
    # 3 defect pixels x 9 normal: pairs where the defect scores higher (ties count 1/2)
    # 0.9: 9; 0.3: beats the 7 zeros; 0.5: beats 7 zeros, ties one 0.5 -> 7.5
    assert pixel_auroc(maps, masks) == pytest.approx((9 + 7 + 7.5) / 27)
    for metric in (image_auroc, aupr, f1_max):
        with pytest.raises(ValueError, match=r"needs both normal \(0\) and anomalous \(1\)"):
            metric([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="3 scores for 2 labels"):
        image_auroc([0.1, 0.2, 0.3], [0, 1])


def test_metrics_from_scores_is_every_metric_of_eq7():
    from daad_lib.evaluate import decision_threshold, metrics_from_scores
    from daad_lib.scoring import fuse

    recon, align = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([4.0, 1.0, 3.0, 2.0])
    labels = torch.tensor([0, 1, 0, 1])
    maps, masks = two_region_case()
    scores = {"recon": recon, "align": align, "labels": labels,
              "maps": maps.repeat(4, 1, 1), "masks": masks.repeat(4, 1, 1)}
    result = metrics_from_scores(scores, gamma=0.5)
    fused = fuse(recon, align, 0.5)  # (minmax R + minmax L) / 2 = [1/2, 1/6, 2/3, 2/3]
    assert result["image_auroc"] == image_auroc(fused, labels) == pytest.approx(1.5 / 4)  # one win, one tie
    assert result["image_auroc_recon"] == 0.75 and result["image_auroc_align"] == 0.0
    assert result["image_f1_max"] == f1_max(fused, labels)[0] and result["image_aupr"] == aupr(fused, labels)
    assert result["pixel_aupro"] == pytest.approx(aupro(maps, masks))  # four copies of one map
    assert result["pixel_auroc"] == pytest.approx(pixel_auroc(maps, masks))
    without_masks = metrics_from_scores({**scores, "maps": None, "masks": None}, gamma=1.0)
    assert without_masks["pixel_auroc"] is None and without_masks["pixel_aupro"] is None
    assert without_masks["image_auroc"] == 0.75  # gamma 1: R(x) alone

    # the decision threshold is F1-max of A(x) on the training images' fixed scale
    decision = decision_threshold(scores, 1.0, {"recon": [0.0, 2.0]})
    assert decision["threshold"] == pytest.approx(1.0) and decision["f1_on_test"] == pytest.approx(0.8)
    assert "uses the test labels" in decision["rule"]
    # A(x) = [0.5, 1, 1.5, 2] >= 1: normal 3 and both anomalous images are flagged
    assert decision["flagged"] == {"normal": 1, "of_normal": 2, "anomalous": 2, "of_anomalous": 2}
