"""experiments/visuals.py: reconstructions, maps and ROC curves of trained checkpoints."""
from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture
def two_checkpoints(tiny_mvtec, tmp_path):
    """An AE and a DAAD trained for one epoch on the tiny MVTec folder, through the run pipeline."""
    from experiments import paper_gpu

    out = tmp_path / "runs"
    assert paper_gpu.main(["--models", "ae", "daad", "--epochs", "1", "--image-size", "32", "--device", "cpu",
                           "--data-dir", str(tiny_mvtec), "--out", str(out)]) == 0
    return {label: out / f"bottle-{variant}" / "checkpoint.pt" for label, variant in (("AE", "ae"), ("DAAD", "daad"))}


def test_visuals_shows_one_image_per_type_and_the_roc_of_every_model(two_checkpoints, tiny_mvtec, tmp_path):
    from daad_lib.checkpoint import load_detector
    from daad_lib.evaluate import metrics_from_scores, score_dataset
    from daad_lib.run import build_split
    from experiments import visuals

    out = tmp_path / "visuals"
    report = visuals.main([f"--checkpoint=AE={two_checkpoints['AE']}", f"--checkpoint=DAAD={two_checkpoints['DAAD']}",
                           "--name", "tiny", "--out", str(out)])  # the data: where the checkpoints were trained
    assert {p.name for p in out.iterdir()} == {"visuals_tiny.png", "roc_tiny.png", "visuals_tiny.json"}
    assert json.loads((out / "visuals_tiny.json").read_text())["models"].keys() == {"AE", "DAAD"}
    # the rule: the first normal test image, then the first of each defect type (sorted file order)
    assert [(row["type"], row["file"]) for row in report["shown"]] == [("good", "000.png"), ("crack", "000.png")]
    for label, row in report["models"].items():
        detector, state = load_detector(two_checkpoints[label])
        scores = score_dataset(detector, build_split(state["dataset"], "test", str(tiny_mvtec.parent)), device="cpu")
        assert row["image_auroc"] == pytest.approx(metrics_from_scores(scores, detector.config.gamma)["image_auroc"])
        fpr, tpr = torch.tensor(row["roc"]["fpr"]), torch.tensor(row["roc"]["tpr"])
        assert fpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1 and bool((fpr.diff() >= 0).all())
        assert row["by_defect_type"]["crack"]["num_images"] == 3 and len(row["sha256"]) == 64
    assert report["num_test_images"] == 5 and report["command"].startswith("python -m experiments.visuals")
    again = [f"--checkpoint=AE={two_checkpoints['AE']}", "--name", "tiny", "--out", str(out)]
    with pytest.raises(SystemExit, match="already holds"):  # a second run never replaces the first's files
        visuals.main(again)
    assert visuals.main([*again, "--overwrite"])["models"].keys() == {"AE"}


@pytest.mark.parametrize("entry, message", [("AE", "takes LABEL=PATH"), ("AE=/no/such/file.pt", "no file")])
def test_visuals_refuses_a_malformed_or_missing_checkpoint(entry, message, tmp_path):
    from experiments import visuals

    with pytest.raises(SystemExit, match=message):
        visuals.main(["--checkpoint", entry, "--name", "x", "--out", str(tmp_path)])


def test_visuals_refuses_checkpoints_of_different_data(two_checkpoints, tiny_mvtec, tmp_path):
    from daad_lib.checkpoint import update_checkpoint
    from experiments import visuals

    update_checkpoint(two_checkpoints["DAAD"], dataset={**torch.load(two_checkpoints["DAAD"], weights_only=True)["dataset"],
                                                        "image_size": 64})
    with pytest.raises(SystemExit, match="different data"):
        visuals.main([f"--checkpoint=AE={two_checkpoints['AE']}", f"--checkpoint=DAAD={two_checkpoints['DAAD']}",
                      "--name", "x", "--data-dir", str(tiny_mvtec.parent), "--out", str(tmp_path)])
