"""Nothing lost, nothing silently wrong: every case a hostile user tried (run folders,
odd images, bad options, tampered checkpoints), each with the message it must now give."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daad_lib.checkpoint import CheckpointError, load_checkpoint, load_detector
from daad_lib.cli import main
from daad_lib.data import CorruptImageError, Folder, FolderLayoutError, load_image
from daad_lib.data.common import open_image

from .conftest import write_png
from .test_folder import make_folders

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "stripes", "--model", "ae", "--image-size", "32", "--widths", "8", "16", "--no-progress",
        "--device", "cpu"]


def train(out: Path, *extra: str) -> int:
    return main(["train", *TINY, "--epochs", "1", "--out", str(out), *extra])


# 1. Lost work ------------------------------------------------------------------------------

def test_a_second_writer_is_refused_and_named(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from daad_lib.rundir import claim\n"
        f"with claim({str(out)!r}):\n    print('held', flush=True); time.sleep(60)")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert train(out) == 2
        error = capsys.readouterr().err
        assert "is being written by another run" in error and f"pid {holder.pid}" in error
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    assert train(out) == 0  # the lock went with its process (even killed)


def test_an_existing_run_is_refused_unless_resumed_or_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--keep-epochs", "1") == 0
    (out / "eval.json").write_text("{}")
    before = (out / "checkpoint.pt").read_bytes()
    assert main(["train", *TINY, "--model", "daad", "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before  # untouched
    assert main(["train", *TINY, "--model", "daad", "--rates", "1", "1", "1", "--epochs", "1", "--out", str(out),
                 "--overwrite"]) == 0
    assert not (out / "eval.json").exists() and not (out / "checkpoint_epoch0001.pt").exists()
    assert len((out / "log.jsonl").read_text().splitlines()) == 1  # the new run's line only
    assert load_checkpoint(out / "checkpoint.pt")["model_config"]["variant"] == "daad"
    (out / "notes.txt").write_text("mine")
    assert train(out, "--overwrite") == 2  # never removes what a run did not write
    assert "removes only a run's own files" in capsys.readouterr().err and (out / "notes.txt").exists()


def test_resume_refuses_a_changed_recipe_and_names_the_fields(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    assert main(["train", *TINY, "--epochs", "2", "--seed", "1", "--batch-size", "4", "--resume",
                 "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "cannot resume" in error and "seed: 0 -> 1" in error and "batch_size: 8 -> 4" in error
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["train_config"]["seed"] == 0 and state["epoch"] == 1  # the record still describes the run


def test_resume_to_fewer_epochs_than_trained_is_refused_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "train.json", "log.jsonl")}
    assert train(out, "--resume") == 2  # --epochs 1 on a 2-epoch run would train nothing
    assert "already trained 2" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in before} == before  # train.json still says 2 epochs


def test_an_interrupted_kept_checkpoint_leaves_no_partial_file(tmp_path, monkeypatch):
    import os

    from daad_lib import rundir

    out = tmp_path / "run"
    real_replace = os.replace

    def crash_on_kept(source, target):
        if Path(target).name.startswith("checkpoint_epoch"):
            raise KeyboardInterrupt  # killed between writing and renaming the kept copy
        real_replace(source, target)

    monkeypatch.setattr(rundir.os, "replace", crash_on_kept)
    assert train(out, "--keep-epochs", "1") == 130  # the CLI reports the interrupt (test_safety_second_pass.py)
    assert sorted(path.name for path in out.iterdir()) == [".lock", "checkpoint.pt"]  # no half file, no log line


def test_resume_rewrites_the_log_to_the_checkpoints_epochs(tmp_path):
    out = tmp_path / "run"
    assert train(out) == 0
    with open(out / "log.jsonl", "a") as log:
        log.write('{"epoch": 2, "cut sh')  # a kill in the middle of a later line
    assert main(["train", *TINY, "--epochs", "2", "--resume", "--out", str(out)]) == 0
    epochs = [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_score_names_maps_uniquely_and_checks_every_input_first(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    for kind in ("crack", "scratch"):
        write_png(tmp_path / "in" / kind / "000.png", np.full((20, 30, 3), 120, np.uint8))
    images = [str(tmp_path / "in" / "crack" / "000.png"), str(tmp_path / "in" / "scratch" / "000.png")]
    maps = tmp_path / "maps"
    assert main(["score", str(out / "checkpoint.pt"), images[0], str(tmp_path / "gone.png"), images[1],
                 "--out", str(maps)]) == 2
    assert "no such image file" in capsys.readouterr().err and not maps.exists()  # nothing written
    assert main(["score", str(out / "checkpoint.pt"), *images, "--out", str(maps)]) == 0
    assert sorted(path.name for path in maps.iterdir()) == ["crack_000_map.png", "scores.json", "scratch_000_map.png"]
    assert main(["score", str(out / "checkpoint.pt"), *images, "--out", str(maps)]) == 2
    assert "already holds scores.json" in capsys.readouterr().err
    assert main(["score", str(out / "checkpoint.pt"), *images, "--out", str(maps / "scores.json")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# 2. Silently wrong input -------------------------------------------------------------------

def test_overlapping_folders_are_refused(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    with pytest.raises(FolderLayoutError, match="is the same folder as"):
        Folder(dirs["normal_dir"], abnormal_dir=dirs["normal_dir"])
    with pytest.raises(FolderLayoutError, match="lies inside"):
        Folder(tmp_path, abnormal_dir=dirs["abnormal_dir"])  # the defects sit inside the normal folder
    with pytest.raises(FolderLayoutError, match="normal_test_dir .* lies inside normal_dir"):
        Folder(dirs["normal_dir"], normal_test_dir=dirs["normal_dir"] / "batch_b")


def test_sixteen_bit_and_float_images_are_scaled_by_their_range(tmp_path):
    grey = np.full((8, 8), 32768, np.uint16)  # mid-grey in 16 bits
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    loaded = load_image(tmp_path / "grey16.png", 8, 1)
    assert loaded.abs().max() < 0.01  # mid-grey is 0 in [-1, 1], not clipped to white (+1)
    Image.fromarray(np.full((8, 8), 0.25, np.float32)).save(tmp_path / "quarter.tif")
    assert load_image(tmp_path / "quarter.tif", 8, 1).mean().item() == pytest.approx(-0.5, abs=0.01)
    Image.fromarray(np.full((8, 8), 300.0, np.float32)).save(tmp_path / "raw.tif")
    with pytest.raises(CorruptImageError, match=r"floating-point image with values in \[300, 300\]"):
        load_image(tmp_path / "raw.tif", 8, 1)


def test_exif_orientation_is_applied(tmp_path):
    from daad_lib.predict import as_pil

    array = np.zeros((10, 20, 3), np.uint8)
    array[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(array).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    shown = open_image(tmp_path / "photo.jpg", "L")
    assert shown.size == (10, 20)  # upright: 10 wide, 20 high
    assert np.asarray(shown)[:10].mean() > 200 and np.asarray(shown)[10:].mean() < 50  # white on top
    assert as_pil(str(tmp_path / "photo.jpg"), "L").size == (10, 20)


def test_image_sizes_and_decompression_bombs_get_clear_errors(tmp_path, capsys, monkeypatch):
    assert train(tmp_path / "zero", "--image-size", "0") == 2
    assert "image size 0 is not a positive multiple of 4" in capsys.readouterr().err  # not 256 px
    assert train(tmp_path / "huge", "--image-size", "100000") == 2
    assert "larger than 4096 px" in capsys.readouterr().err
    write_png(tmp_path / "big.png", np.zeros((100, 100, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # PIL warns above this, refuses above twice it
    with pytest.raises(CorruptImageError, match=r"big.png has more pixels than PIL's safety limit of 2000 .*Image size \(10000 pixels\)"):
        load_image(tmp_path / "big.png", 16, 3)


def test_a_corrupt_normal_test_image_is_found_before_training(tmp_path, capsys):
    dirs = make_folders(tmp_path / "data", masks=None)
    test_only = Folder(**{k: v for k, v in dirs.items() if v is not None}, split="test", image_size=16)
    normal_test = next(path for path, label, _ in test_only.items if label == 0)
    normal_test.write_bytes(b"not an image")
    options = [f"--{name.replace('_', '-')}={path}" for name, path in dirs.items() if path is not None]
    assert main(["train", "--dataset", "folder", *options, "--model", "ae", "--image-size", "32", "--widths", "8",
                 "16", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert f"cannot read image {normal_test}" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # refused before the first epoch


def test_masks_of_another_size_warn_and_shared_flat_masks_are_refused(tmp_path):
    dirs = make_folders(tmp_path / "a", masks="mvtec")
    write_png(dirs["mask_dir"] / "crack" / "000_mask.png", np.zeros((64, 64), np.uint8))
    test = Folder(**dirs, split="test", image_size=16)
    with pytest.warns(UserWarning, match=r"000_mask.png is 64x64 px but its image .*000.png is 32x32 px"):
        test.check_readable()
    dirs = make_folders(tmp_path / "b", masks=None)
    for stem in ("000", "001", "002"):  # crack/000.png and hole/000.png would share 000_mask.png
        write_png(tmp_path / "b" / "flat" / f"{stem}_mask.png", np.zeros((32, 32), np.uint8))
    with pytest.raises(FolderLayoutError, match="would both take mask"):
        Folder(dirs["normal_dir"], abnormal_dir=dirs["abnormal_dir"], mask_dir=tmp_path / "b" / "flat",
               split="test")


def test_tampered_checkpoints_fail_with_a_message(tmp_path):
    out = tmp_path / "run"
    assert train(out) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)

    def tampered(name: str, **changes) -> Path:
        path = tmp_path / f"{name}.pt"
        torch.save({key: value for key, value in {**state, **changes}.items() if value is not ...}, path)
        return path

    with pytest.raises(CheckpointError, match="damaged: it has no 'generator'"):
        load_checkpoint(tampered("no_weights", generator=...))
    with pytest.raises(CheckpointError, match="damaged: 'epoch' is a str, not a int"):
        load_checkpoint(tampered("epoch_text", epoch="one"))
    with pytest.raises(CheckpointError, match="weights do not fit its model config"):
        load_detector(tampered("wider", model_config={**state["model_config"], "widths": [8, 32]}))
    with pytest.raises(CheckpointError, match="model config is invalid"):
        load_detector(tampered("nonsense", model_config={**state["model_config"], "image_size": 7}))


def test_options_that_cannot_work_are_one_line_errors(tmp_path, tiny_mvtec, capsys):
    if not torch.cuda.is_available():
        assert train(tmp_path / "gpu", "--device", "cuda") == 2
        assert "no CUDA GPU is available here" in capsys.readouterr().err
    (tmp_path / "data.txt").write_text("")
    mvtec = ["train", "--dataset", "mvtec", "--model", "ae", "--image-size", "32", "--widths", "8", "16",
             "--epochs", "1", "--no-progress"]
    assert main([*mvtec, "--data-dir", str(tmp_path / "data.txt"), "--out", str(tmp_path / "r1")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*mvtec, "--data-dir", str(tiny_mvtec), "--category", "cable", "--out", str(tmp_path / "r2")]) == 2
    assert "is the category folder 'widget', but the category asked for is 'cable'" in capsys.readouterr().err
    assert main(["train", *TINY, "--model", "daad", "--rates", "0", "0", "1", "--out", str(tmp_path / "r3")]) == 2
    assert "rates (r_h, r_w, r_c) must be three positive integers" in capsys.readouterr().err


def test_the_record_names_the_real_category_and_an_absolute_data_dir(tmp_path, tiny_mvtec, monkeypatch):
    monkeypatch.chdir(tiny_mvtec.parent)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mvtec", "--model", "ae", "--image-size", "32", "--widths", "8", "16",
                 "--epochs", "1", "--no-progress", "--data-dir", tiny_mvtec.name, "--out", str(out)]) == 0
    spec = load_checkpoint(out / "checkpoint.pt")["dataset"]
    assert spec["category"] == "widget" and spec["data_dir"] == str(tiny_mvtec.resolve())
    monkeypatch.chdir(tmp_path)  # eval from another folder finds the data
    assert main(["eval", str(out / "checkpoint.pt")]) == 0


# 3. One inference path, a threshold without test labels -----------------------------------

def test_predict_and_daad_score_agree_on_a_non_square_image(tmp_path):
    from daad_lib.models import Detector

    out = tmp_path / "run"
    assert train(out) == 0
    rng = np.random.default_rng(0)
    write_png(tmp_path / "wide.png", rng.integers(0, 255, (30, 50, 3), dtype=np.uint8))
    detector = Detector.load(out / "checkpoint.pt")
    [row] = detector.predict([str(tmp_path / "wide.png")])
    assert row["map"].shape == (30, 50)  # the input's own height and width
    assert main(["score", str(out / "checkpoint.pt"), str(tmp_path / "wide.png"), "--out", str(tmp_path / "m")]) == 0
    [scored] = json.loads((tmp_path / "m" / "scores.json").read_text())["scores"]
    assert scored["A"] == pytest.approx(row["score"], abs=1e-6) and scored["R"] == pytest.approx(row["recon"], abs=1e-6)
    assert scored["decision"] == ("anomalous" if row["anomalous"] else "normal")
    as_array = detector.predict(np.asarray(Image.open(tmp_path / "wide.png")))[0]
    as_tensor = detector.predict(torch.from_numpy(np.array(Image.open(tmp_path / "wide.png"))).permute(2, 0, 1) / 255)[0]
    assert as_array["score"] == pytest.approx(row["score"], abs=1e-6)
    assert as_tensor["score"] == pytest.approx(row["score"], abs=1e-6)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        detector.predict(torch.full((3, 8, 8), 5.0))


def test_the_label_free_threshold_flags_anomalies_not_every_image(tmp_path):
    """The threshold comes from held-out normal images only; on digits (normal 8) it must call
    most normal test images normal (anomalib's adaptive threshold is reported to flag every
    image when its validation set holds only normal images) and flag many anomalies."""
    from daad_lib.data import build_dataset
    from daad_lib.models import Detector

    out = tmp_path / "digits"
    assert main(["train", "--dataset", "digits", "--normal-class", "8", "--model", "ae", "--epochs", "15",
                 "--validation-ratio", "0.2", "--threshold-quantile", "0.95", "--no-progress", "--out", str(out)]) == 0
    detector = Detector.load(out / "checkpoint.pt")
    assert detector.decision["num_images"] == 17 and "no test images" in detector.decision["rule"]
    test = build_dataset("digits", "test", 32, normal_class=8)
    flags = torch.tensor([row["anomalous"] for row in detector.predict(torch.stack(
        [(test[i]["image"] + 1) / 2 for i in range(len(test))]))])
    labels = torch.tensor(test.labels).bool()
    assert flags[~labels].float().mean() < 0.3  # most normal test digits pass
    assert flags[labels].float().mean() > 0.4  # and many anomalous ones are caught


def test_deterministic_reruns_give_bit_identical_checkpoints(tmp_path):
    assert train(tmp_path / "a", "--deterministic", "--model", "daad_plus", "--rates", "1", "1", "1") == 0
    assert train(tmp_path / "b", "--deterministic", "--model", "daad_plus", "--rates", "1", "1", "1") == 0
    first, second = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("a", "b"))
    for part in ("generator", "discriminator"):
        assert first[part].keys() == second[part].keys()
        assert all(torch.equal(first[part][name], second[part][name]) for name in first[part]), part
    assert first["train_config"]["deterministic"] and not torch.are_deterministic_algorithms_enabled()
