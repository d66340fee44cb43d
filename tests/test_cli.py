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
                 "--out", str(tmp_path / "run")]) == 2
    assert "image size 100 is not a positive multiple of 16" in capsys.readouterr().err
    assert main(["train", "--dataset", "mvtec", "--data-dir", str(tmp_path), "--category", "cable", "--model", "ae",
                 "--image-size", "32", "--out", str(tmp_path / "run")]) == 2
    assert "cable does not exist" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nothing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def folder_train(dirs: dict, out, *extra) -> int:
    options = [f"--{name.replace('_', '-')}={path}" for name, path in dirs.items() if path is not None]
    return main(["train", "--dataset", "folder", *options, "--model", "ae", "--image-size", "32", "--widths", "8",
                 "16", "--batch-size", "4", "--out", str(out), "--no-progress", *extra])


def test_folder_dataset_without_masks_train_eval_score(tmp_path, capsys):
    from daad_lib.checkpoint import load_checkpoint
    from daad_lib.cli import build_split

    from .test_folder import make_folders

    dirs = make_folders(tmp_path / "data", masks=None)
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "2", "--eval-every", "1") == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [0 <= line["eval"]["image_auroc"] <= 1 for line in log] == [True, True]

    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["num_test"] == 6 and report["num_anomalous"] == 4  # 2 held-out normal + 4 defective
    assert report["pixel_auroc"] is None and 0 <= report["image_f1_max"] <= 1 and 0 <= report["image_aupr"] <= 1
    state = load_checkpoint(out / "checkpoint.pt")  # eval leaves the checkpoint as training wrote it
    assert "held-out normal training images" in state["decision"]["rule"] and state["decision"]["num_images"] == 1
    on_test = json.loads((out / "decision.json").read_text())  # the optimistic cut, beside it
    assert on_test["threshold"] == report["decision"]["threshold"] and "test labels" in on_test["rule"]
    train_files = {path for path, _, _ in build_split(state["dataset"], "train").items}
    test_files = {path for path, _, _ in build_split(state["dataset"], "test").items}
    assert len(train_files) == 8 and not train_files & test_files  # eval rebuilt the held-out split
    assert json.loads((out / "train.json").read_text())["num_train_images"] == 7  # 1 kept for the threshold

    images = [str(path) for path in sorted(test_files)[:3]]
    for source, threshold in (("normal", state["decision"]["threshold"]), ("test", on_test["threshold"])):
        assert main(["score", str(out / "checkpoint.pt"), *images, "--out", str(tmp_path / "maps"),
                     "--threshold-from", source, "--overwrite"]) == 0
        scored = json.loads((tmp_path / "maps" / "scores.json").read_text())
        assert scored["threshold"] == threshold
        assert [row["decision"] for row in scored["scores"]] == \
            ["anomalous" if row["A"] >= threshold else "normal" for row in scored["scores"]]
    printed = capsys.readouterr().out
    assert "wrote the F1-max threshold" in printed and printed.count("A(x)=") == 6
    for forced, verdict in (("-1e9", "anomalous"), ("1e9", "normal")):
        assert main(["score", str(out / "checkpoint.pt"), *images, f"--threshold={forced}",
                     "--out", str(tmp_path / "maps"), "--overwrite"]) == 0
        assert {row["decision"] for row in json.loads((tmp_path / "maps" / "scores.json").read_text())["scores"]} \
            == {verdict}


def test_folder_dataset_with_masks_reports_pixel_metrics(tmp_path):
    from .test_folder import make_folders

    out = tmp_path / "run"
    assert folder_train(make_folders(tmp_path / "data", masks="mvtec"), out, "--epochs", "1") == 0
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert all(0 <= report[key] <= 1 for key in ("pixel_auroc", "pixel_aupro", "pixel_f1_max"))


def test_folder_options_give_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--dataset", "folder", "--out", str(tmp_path / "run")]) == 2
    assert "--dataset folder needs --normal-dir" in capsys.readouterr().err
    assert main(["train", "--dataset", "stripes", "--normal-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "--normal-dir is an option of --dataset folder" in capsys.readouterr().err
    assert folder_train({"normal_dir": tmp_path / "empty"}, tmp_path / "run", "--epochs", "1") == 2
    assert "holds no images" in capsys.readouterr().err
