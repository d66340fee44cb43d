"""Scores (Eq. 7), metrics and checkpoints of another model."""
from __future__ import annotations

import pytest
import torch

from daad_lib import build_model
from daad_lib.checkpoint import CheckpointError, load_checkpoint, load_detector, save_checkpoint
from daad_lib.metrics import image_auroc, pixel_auroc
from daad_lib.scoring import anomaly_map, fuse, minmax, reconstruction_score, score_batch


def test_reconstruction_score_is_mean_squared_error():
    x, x_hat = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    x_hat[1, :, :2] = 2.0  # half the pixels off by 2
    torch.testing.assert_close(reconstruction_score(x, x_hat), torch.tensor([0.0, 2.0]))


def test_fuse_is_eq7_on_minmax_scaled_scores():
    recon, align = torch.tensor([1.0, 3.0, 5.0]), torch.tensor([10.0, 30.0, 20.0])
    torch.testing.assert_close(minmax(recon), torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(fuse(recon, align, 0.9), 0.9 * torch.tensor([0, .5, 1]) + 0.1 * torch.tensor([0, 1, .5]))
    torch.testing.assert_close(fuse(recon, None, 0.9), minmax(recon))
    torch.testing.assert_close(minmax(torch.ones(3)), torch.zeros(3))


def test_anomaly_map_peaks_at_the_defect():
    x, x_hat = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    x_hat[0, :, 20:24, 4:8] = 1.0
    amap = anomaly_map(x, x_hat, sigma=1.0)
    assert amap.shape == (1, 32, 32)
    row, col = divmod(int(amap[0].argmax()), 32)
    assert 20 <= row < 24 and 4 <= col < 8


def test_aurocs():
    assert image_auroc(torch.tensor([0.1, 0.2, 0.8, 0.9]), torch.tensor([0, 0, 1, 1])) == 1.0
    assert image_auroc(torch.tensor([0.9, 0.8, 0.2, 0.1]), torch.tensor([0, 0, 1, 1])) == 0.0
    masks = torch.zeros(1, 4, 4)
    masks[0, 0, 0] = 1
    maps = torch.zeros(1, 4, 4)
    maps[0, 0, 0] = 5
    assert pixel_auroc(maps, masks) == 1.0
    with pytest.raises(ValueError, match="both normal"):
        image_auroc(torch.tensor([0.1, 0.2]), torch.tensor([0, 0]))


def test_score_batch_has_alignment_only_with_a_discriminator():
    plus = build_model("daad_plus", image_size=32, widths=(8, 16), rates=(2, 2, 1), num_items=10).eval()
    plain = build_model("ae", image_size=32, widths=(8, 16)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert score_batch(plus, x)["align"].shape == (2,)
    assert score_batch(plain, x)["align"] is None
    with pytest.raises(ValueError, match="expects images"):
        score_batch(plain, torch.rand(2, 3, 16, 16))


def save_model(path, detector):
    save_checkpoint(path, {"model_config": detector.config.to_dict(), "epoch": 1, "history": [],
                           "dataset": {}, "generator": detector.generator.state_dict(),
                           "discriminator": None})


def test_checkpoint_of_another_model_is_refused(tmp_path):
    ae = build_model("ae", image_size=32, widths=(8, 16))
    save_model(tmp_path / "ae.pt", ae)
    with pytest.raises(CheckpointError, match="holds model 'ae', not 'daad'"):
        load_detector(tmp_path / "ae.pt", "daad")
    loaded, _ = load_detector(tmp_path / "ae.pt")
    assert torch.equal(loaded.generator.encoder[0][0].weight, ae.generator.encoder[0][0].weight)


def test_non_checkpoint_files_are_refused(tmp_path):
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable daad-book checkpoint"):
        load_checkpoint(tmp_path / "notes.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a daad-book checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_image_scores_read_from_the_map_find_a_small_defect_the_mean_dilutes():
    """Normal images with uneven background error against defective ones with a quiet
    background and one bright 2x2 spot: R(x) ranks them wrongly, the map's max rightly."""
    from daad_lib.evaluate import auroc_by_image_score
    from daad_lib.scoring import image_score
    torch.manual_seed(0)
    maps = torch.rand(20, 32, 32) * 0.1
    maps[:10] += 0.05  # normal: more error everywhere
    maps[10:, 5:7, 5:7] = 1.0  # defective: one small spot
    labels = torch.tensor([0] * 10 + [1] * 10)
    scores = {"recon": maps.flatten(1).mean(dim=1), "maps": maps, "labels": labels, "align": None}
    by_score = auroc_by_image_score(scores, gamma=1.0)
    assert by_score["mean"] < 0.5 and by_score["map_max"] == 1.0 and by_score["map_top1pct"] == 1.0
    top = image_score(None, maps, "map_top1pct")  # top 1 % of 1024 pixels = 10 pixels
    torch.testing.assert_close(top[10:], (4 * 1.0 + maps[10:].flatten(1).sort(descending=True).values[:, 4:10].sum(1)) / 10)
    with pytest.raises(ValueError, match="image score must be one of"):
        image_score(None, maps, "median")


def test_metrics_report_the_map_scores_and_keep_the_papers_auroc():
    from daad_lib.evaluate import metrics_from_scores
    maps = torch.rand(6, 8, 8)
    scores = {"recon": torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), "align": None, "maps": maps,
              "labels": torch.tensor([0, 0, 0, 1, 1, 1])}
    metrics = metrics_from_scores(scores, gamma=1.0)
    assert metrics["image_auroc"] == metrics["image_auroc_by_score"]["mean"] == 1.0
    assert set(metrics["image_auroc_by_score"]) == {"mean", "map_max", "map_top1pct"}
