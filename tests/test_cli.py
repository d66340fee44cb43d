"""The command line end to end, in temporary folders."""
from __future__ import annotations

import json

from daad_lib.cli import main


def test_demo_prints_both_aurocs(tmp_path, capsys):
    assert main(["demo", "--epochs", "2", "--no-progress", "--out", str(tmp_path / "demo.json")]) == 0
    printed = capsys.readouterr().out
    assert "ae    image AUROC" in printed and "daad  image AUROC" in printed
    report = json.loads((tmp_path / "demo.json").read_text())
    assert 0.5 < report["image_auroc"]["ae"] <= 1 and 0.5 < report["image_auroc"]["daad"] <= 1


def test_train_eval_score_round_trip_on_mvtec_layout(tiny_mvtec, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--data-dir", str(tiny_mvtec), "--image-size", "32", "--widths", "8", "16",
              "--out", str(out), "--no-progress"]
    assert main(["train", "--dataset", "mvtec", "--model", "daad_plus", "--rates", "2", "2", "1",
                 "--num-items", "10", "--epochs", "1", *common]) == 0
    # one more epoch from the checkpoint
    assert main(["train", "--dataset", "mvtec", "--model", "daad_plus", "--rates", "2", "2", "1",
                 "--num-items", "10", "--epochs", "2", "--resume", *common]) == 0
    assert json.loads((out / "train.json").read_text())["history"][-1]["epoch"] == 2

    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert 0 <= report["image_auroc"] <= 1 and 0 <= report["pixel_auroc"] <= 1
    assert report["num_test"] == 5 and report["epochs"] == 2 and report["git_commit"]

    images = sorted((tiny_mvtec / "test" / "crack").glob("*.png"))[:2]
    assert main(["score", str(out / "checkpoint.pt"), *map(str, images), "--out", str(tmp_path / "maps")]) == 0
    scores = json.loads((tmp_path / "maps" / "scores.json").read_text())["scores"]
    assert len(scores) == 2 and all(s["L"] is not None and "A" in s for s in scores)
    assert (tmp_path / "maps" / "000_map.png").stat().st_size > 1000
    assert "R(x)=" in capsys.readouterr().out


def test_bad_input_gives_a_message_not_a_traceback(tiny_mvtec, tmp_path, capsys):
    assert main(["train", "--dataset", "mvtec", "--data-dir", str(tiny_mvtec), "--image-size", "100",
                 "--out", str(tmp_path)]) == 2
    assert "image size 100 is not a multiple of 16" in capsys.readouterr().err
    assert main(["train", "--dataset", "mvtec", "--data-dir", str(tmp_path), "--category", "cable", "--model", "ae",
                 "--image-size", "32", "--out", str(tmp_path)]) == 2
    assert "cable does not exist" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nothing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
