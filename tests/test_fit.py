"""``fit="pad"``: inputs that keep an image's aspect ratio, and scores read over its own pixels
(results/texture/aspect_rule.md). Each test compares with a slow reference or with the stretch
path, so a wrong box, a mask off its image or padding that leaks into a score fails."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from daad_lib import build_model
from daad_lib.cli import main
from daad_lib.data import build_dataset, input_spec
from daad_lib.data.oneclass import OneClass
from daad_lib.data.common import FitToSquare, fit_box, valid_region
from daad_lib.evaluate import metrics_from_scores, score_dataset
from daad_lib.metrics import aupro, pixel_auroc
from daad_lib.predict import predict
from daad_lib.scoring import anomaly_map, image_score, reconstruction_score
from daad_lib.train import TrainConfig, fit

from .conftest import write_png


def test_box_keeps_the_aspect_ratio_and_centres():
    assert fit_box(300, 100, 60, "pad") == (0, 20, 60, 20)  # landscape: full width, centred vertically
    assert fit_box(100, 300, 60, "pad") == (20, 0, 20, 60)  # portrait
    assert fit_box(77, 77, 60, "pad") == (0, 0, 60, 60)  # a square image fills the input
    assert fit_box(300, 100, 60, "stretch") == (0, 0, 60, 60)
    assert valid_region((20, 0, 20, 60), 60).sum() == 20 * 60
    with pytest.raises(ValueError, match="fit must be one of"):
        fit_box(10, 10, 8, "crop")


def test_stretch_is_the_resize_it_replaces_and_pad_fills_with_the_mean():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (30, 90, 3), dtype=np.uint8))
    resize = transforms.Resize((48, 48), antialias=True)  # the transform before the option
    assert np.array_equal(np.asarray(FitToSquare(48, "stretch")(image)), np.asarray(resize(image)))

    padded = np.asarray(FitToSquare(48, "pad")(image)).astype(float)  # (48, 48, 3)
    left, top, w, h = fit_box(90, 30, 48, "pad")
    inner = np.asarray(transforms.functional.resize(image, [h, w], antialias=True)).astype(float)
    assert np.array_equal(padded[top:top + h, left:left + w], inner)
    outside = ~valid_region((left, top, w, h), 48).numpy()
    assert np.allclose(padded[outside], inner.reshape(-1, 3).mean(0).round(), atol=0)


def long_tiles(root: Path) -> Path:
    """An MVTec-layout category of 40 x 20 (landscape) and 20 x 40 (portrait) RGB images, whose
    test defects are a white square marked in their masks."""
    rng = np.random.default_rng(1)
    category = root / "tiles"
    noise = lambda shape: rng.integers(90, 110, (*shape, 3), dtype=np.uint8)
    for i in range(4):
        write_png(category / "train" / "good" / f"{i:03d}.png", noise((20, 40) if i % 2 else (40, 20)))
    write_png(category / "test" / "good" / "000.png", noise((20, 40)))
    for i, shape in enumerate([(20, 40), (40, 20)]):
        image, mask = noise(shape), np.zeros(shape, np.uint8)
        image[4:12, 4:12], mask[4:12, 4:12] = 255, 255
        write_png(category / "test" / "crack" / f"{i:03d}.png", image)
        write_png(category / "ground_truth" / "crack" / f"{i:03d}_mask.png", mask)
    return category


def test_masks_follow_their_image_into_the_box(tmp_path):
    category = long_tiles(tmp_path)
    padded = build_dataset("mvtec", "test", 16, category, fit="pad")
    stretched = build_dataset("mvtec", "test", 16, category)
    defective = [i for i, (_, label, _) in enumerate(padded.items) if label]
    assert len(defective) == 2
    for index in defective:  # landscape and portrait
        item = padded[index]
        box = fit_box(*Image.open(padded.items[index][0]).size, 16, "pad")
        assert torch.equal(item["valid"], valid_region(box, 16))
        assert item["mask"].sum() > 0 and not (item["mask"].bool() & ~item["valid"]).any()
        left, top, w, h = box  # the mask inside the box is the original mask resized to the box
        original = Image.open(padded.items[index][2]).resize((w, h), Image.NEAREST)
        assert np.array_equal(item["mask"][top:top + h, left:left + w].numpy() > 0, np.asarray(original) > 0)
        assert "valid" not in stretched[index] and stretched[index]["mask"].shape == (16, 16)
    with pytest.raises(ValueError, match="fit 'pad' is an option of mvtec and folder"):
        build_dataset("digits", "test", 16, fit="pad")


def test_scores_read_the_valid_pixels_only():
    torch.manual_seed(0)
    x, x_hat = torch.randn(3, 2, 8, 8), torch.randn(3, 2, 8, 8)
    valid = torch.rand(3, 8, 8) > 0.4
    slow = [float(((x[i] - x_hat[i]) ** 2).mean(0)[valid[i]].mean()) for i in range(3)]  # per image, by hand
    assert torch.allclose(reconstruction_score(x, x_hat, valid), torch.tensor(slow))
    everywhere = torch.ones(3, 8, 8, dtype=torch.bool)  # an unpadded input: the paper's mean over all pixels
    assert torch.allclose(reconstruction_score(x, x_hat, everywhere), reconstruction_score(x, x_hat))

    maps = torch.rand(3, 20, 20)
    maps[:, 0, 0] = 9.0  # the largest value sits in the padding: it must not count
    valid = torch.zeros(3, 20, 20, dtype=torch.bool)
    valid[0, 5:, :], valid[1, :, 3:], valid[2] = True, True, True
    valid[2, 0, 0] = False
    for i in range(3):
        own = maps[i][valid[i]].sort(descending=True).values
        k = max(1, round(0.01 * len(own)))
        assert image_score(None, maps, "map_max", valid)[i] == own[0]
        assert torch.isclose(image_score(None, maps, "map_top1pct", valid)[i], own[:k].mean())


def test_pixel_metrics_equal_those_on_the_cropped_images():
    rng = np.random.default_rng(2)
    masks = torch.zeros(4, 12, 12)
    masks[:, 5:8, 3:6] = 1
    maps = torch.tensor(rng.random((4, 12, 12)), dtype=torch.float32) + masks * 0.3
    maps[:, :2] = 5.0  # padding rows with large values: they would be false positives if counted
    valid = torch.zeros(4, 12, 12, dtype=torch.bool)
    valid[:, 2:] = True
    cropped_maps, cropped_masks = maps[:, 2:], masks[:, 2:]
    assert aupro(maps, masks, valid=valid) == pytest.approx(aupro(cropped_maps, cropped_masks))
    scores = {"recon": torch.tensor([0.0, 1, 2, 3]), "align": None, "labels": torch.tensor([0, 1, 0, 1]),
              "maps": maps, "masks": masks, "valid": valid}
    metrics = metrics_from_scores(scores, gamma=1.0)
    assert metrics["pixel_auroc"] == pytest.approx(pixel_auroc(cropped_maps, cropped_masks))
    assert metrics["pixel_aupro"] == pytest.approx(aupro(cropped_maps, cropped_masks))
    assert metrics_from_scores({**scores, "valid": None}, 1.0)["pixel_auroc"] < metrics["pixel_auroc"]


def test_padded_dataset_scores_match_its_images_own_pixels(tmp_path):
    category = long_tiles(tmp_path)
    test_set = build_dataset("mvtec", "test", 16, category, fit="pad")
    detector = build_model("ae", image_size=16, widths=(4, 8)).eval()
    scores = score_dataset(detector, test_set)
    for index in range(len(test_set)):
        item = test_set[index]
        x = item["image"][None]
        x_hat = detector(x).detach()
        own = ((x - x_hat) ** 2).mean(1)[0][item["valid"]].mean()  # R(x) over the image's own pixels
        assert torch.isclose(scores["recon"][index], own, rtol=1e-5)
    assert torch.equal(scores["valid"], torch.stack([test_set[i]["valid"] for i in range(len(test_set))]))


def test_cli_trains_evaluates_and_scores_padded_inputs(tmp_path, capsys):
    category = long_tiles(tmp_path)
    out = tmp_path / "run"
    common = ["--dataset", "mvtec", "--data-dir", str(category), "--image-size", "16", "--widths", "4", "8",
              "--model", "ae", "--epochs", "1", "--out", str(out), "--no-progress", "--validation-ratio", "0"]
    assert main(["train", *common, "--fit", "pad"]) == 0
    assert json.loads((out / "train.json").read_text())["dataset"]["fit"] == "pad"
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert 0 <= report["pixel_auroc"] <= 1
    # resuming with another fit would train on other inputs: refused by name
    assert main(["train", *common, "--epochs", "2", "--resume"]) != 0
    assert "fit: 'pad' -> 'stretch'" in capsys.readouterr().err

    # daad score pads like training did, and returns the map of the image's own pixels at its size
    from daad_lib.models import Detector
    detector = Detector.load(out / "checkpoint.pt")
    image = sorted((category / "test" / "crack").glob("*.png"))[0]
    row = predict(detector, [image])[0]
    x = transforms.ToTensor()(FitToSquare(16, "pad")(Image.open(image).convert("RGB")))[None] * 2 - 1
    box = fit_box(*Image.open(image).size, 16, "pad")
    valid = valid_region(box, 16)[None]
    assert row["recon"] == pytest.approx(float(reconstruction_score(x, detector(x).detach(), valid)), rel=1e-5)
    assert row["map"].shape == (Image.open(image).height, Image.open(image).width)


def test_stretch_runs_store_no_fit_so_older_checkpoints_resume(tiny_mvtec, tmp_path):
    out = tmp_path / "run"
    common = ["--dataset", "mvtec", "--data-dir", str(tiny_mvtec), "--image-size", "16", "--widths", "4", "8",
              "--model", "ae", "--out", str(out), "--no-progress"]
    assert main(["train", *common, "--epochs", "1"]) == 0
    assert "fit" not in json.loads((out / "train.json").read_text())["dataset"]
    assert main(["train", *common, "--epochs", "2", "--resume", "--fit", "stretch"]) == 0


def test_mnist_with_pad_and_gcn_models_in_predict_are_refused(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--fit", "pad", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"]) != 0
    assert "fit 'pad' is an option of mvtec and folder" in capsys.readouterr().err
    detector = build_model("ae", image_size=16, channels=1, widths=(4, 8))
    detector.data = {"name": "mnist", "preprocessing": "gcn-l1"}
    with pytest.raises(ValueError, match="gcn-l1.*daad eval"):
        predict(detector, [np.zeros((16, 16), np.uint8)])


def test_the_smoothed_map_neither_fades_at_a_thin_tiles_edge_nor_takes_in_the_padding():
    x = torch.zeros(1, 1, 64, 64)
    for height in (64, 10, 3):  # a square, a long and a very thin tile, the same error on every own pixel
        valid = torch.zeros(1, 64, 64, dtype=torch.bool)
        valid[:, 32 - height // 2:32 - height // 2 + height] = True
        x_hat = valid[:, None].float() * 0.5  # error 0.25 on the tile, 0 on the padding
        maps = anomaly_map(x, x_hat, sigma=2.0, valid=valid)
        assert torch.allclose(maps[valid], torch.tensor(0.25)) and (maps[~valid] == 0).all()
        padding_only = anomaly_map(x, (~valid)[:, None].float(), sigma=2.0, valid=valid)  # error outside the tile
        assert (padding_only == 0).all()
    unpadded = torch.rand(2, 3, 16, 16)
    assert torch.allclose(anomaly_map(x[:, :, :16, :16].expand(2, 3, -1, -1), unpadded, 1.0,
                                      torch.ones(2, 16, 16, dtype=torch.bool)),
                          anomaly_map(x[:, :, :16, :16].expand(2, 3, -1, -1), unpadded, 1.0), atol=1e-6)


def test_a_model_trained_in_python_predicts_with_its_datasets_inputs(tmp_path):
    category = long_tiles(tmp_path)
    train_set = build_dataset("mvtec", "train", 16, category, fit="pad")
    test_set = build_dataset("mvtec", "test", 16, category, fit="pad")
    detector = fit("ae", train_set, TrainConfig(epochs=1), image_size=16, widths=(4, 8), progress=False)
    assert detector.data == {"name": "MVTecAD", "fit": "pad"}
    by_dataset = score_dataset(detector, test_set)["recon"]
    by_predict = [row["recon"] for row in predict(detector, [path for path, _, _ in test_set.items])]
    assert torch.allclose(by_dataset, torch.tensor(by_predict), rtol=1e-5)

    gcn = OneClass(torch.utils.data.TensorDataset(torch.zeros(4, 1, 16, 16), torch.zeros(4)), [0, 0, 0, 0], 0,
                   "train", preprocessing="gcn-l1")
    assert input_spec(torch.utils.data.Subset(gcn, [0, 1]))["preprocessing"] == "gcn-l1"
