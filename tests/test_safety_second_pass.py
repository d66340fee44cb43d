"""A second hostile user's pass (2026-12-07): what still gave silently wrong numbers or lost a
run after the first pass (test_safety.py). Each test failed on the code before its fix."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daad_lib.cli import main
from daad_lib.data import Folder, FolderLayoutError
from daad_lib.data.common import load_mask

from .conftest import write_png
from .test_cli import folder_train
from .test_folder import make_folders
from .test_safety import TINY, train


def test_eval_and_resume_refuse_a_normal_folder_whose_images_changed(tmp_path, capsys):
    """The test split is a seeded share of normal_dir's sorted files: a file added later would
    reshuffle it and put trained-on images in the test set, silently."""
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "1") == 0
    assert main(["eval", str(out / "checkpoint.pt")]) == 0  # unchanged folder: fine
    capsys.readouterr()
    write_png(dirs["normal_dir"] / "batch_a" / "new.png", np.full((20, 20, 3), 120, np.uint8))
    assert main(["eval", str(out / "checkpoint.pt")]) == 2
    error = capsys.readouterr().err
    assert "normal_dir holds other images than when this run was trained (10 images then, 11 now)" in error
    assert folder_train(dirs, out, "--epochs", "2", "--resume") == 2
    assert "holds other images" in capsys.readouterr().err
    (dirs["normal_dir"] / "batch_a" / "new.png").unlink()
    assert folder_train(dirs, out, "--epochs", "2", "--resume") == 0  # put back as it was: resumes


def test_one_mask_is_never_given_to_two_defective_images(tmp_path):
    dirs = make_folders(tmp_path, masks="mvtec")
    shutil.copy(dirs["abnormal_dir"] / "crack" / "000.png", dirs["abnormal_dir"] / "crack" / "000.jpg")
    with pytest.raises(FolderLayoutError, match=r"would both take mask .*crack/000_mask\.png"):
        Folder(**dirs, split="test", image_size=16)  # 000.png and 000.jpg, matched by path
    (dirs["abnormal_dir"] / "crack" / "000.jpg").unlink()
    shutil.copy(dirs["abnormal_dir"] / "crack" / "001.png", dirs["abnormal_dir"] / "001.png")
    with pytest.raises(FolderLayoutError, match=r"would both take mask .*crack/001_mask\.png"):
        Folder(**dirs, split="test", image_size=16)  # one by path, the other by stem alone


def test_a_good_folder_under_abnormal_dir_is_refused_not_counted_as_defective(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    write_png(dirs["abnormal_dir"] / "good" / "100.png", np.full((20, 20, 3), 120, np.uint8))
    with pytest.raises(FolderLayoutError, match=r"sub-folder .*good: every image under abnormal_dir counts"):
        Folder(**dirs, split="test", image_size=16)


@pytest.mark.parametrize("encoding", ["16-bit 0/1", "alpha only", "8-bit 0/255"])
def test_masks_keep_their_defect_in_every_common_encoding(tmp_path, encoding):
    defect = np.zeros((16, 16), bool)
    defect[4:8, 4:12] = True
    path = tmp_path / "mask.png"
    if encoding == "16-bit 0/1":
        Image.fromarray(defect.astype(np.uint16)).save(path)
    elif encoding == "alpha only":
        rgba = np.zeros((16, 16, 4), np.uint8)
        rgba[..., 3] = defect * 255  # black everywhere, the defect drawn in the alpha channel
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        write_png(path, defect.astype(np.uint8) * 255)
    assert load_mask(path, 16).bool().numpy().tolist() == defect.tolist()


def test_an_empty_or_label_map_mask_is_warned_about_by_name(tmp_path):
    dirs = make_folders(tmp_path, masks="mvtec")
    write_png(dirs["mask_dir"] / "crack" / "000_mask.png", np.zeros((32, 32), np.uint8))
    labels = np.zeros((32, 32), np.uint8)
    labels[0:4, 0:4], labels[8:12, 8:12] = 1, 2
    write_png(dirs["mask_dir"] / "hole" / "000_mask.png", labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Folder(**dirs, split="test", image_size=16).check_readable()
    messages = [str(w.message) for w in caught]
    assert any("crack/000_mask.png of defective image" in m and "marks no defect pixel" in m for m in messages)
    assert any("hole/000_mask.png holds 3 values (0, 1, 2)" in m for m in messages)


def test_score_refuses_a_test_threshold_made_before_the_run_was_resumed(tmp_path, capsys):
    dirs = make_folders(tmp_path, masks="mvtec")
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "1") == 0
    assert main(["eval", str(out / "checkpoint.pt"), "--out", str(tmp_path / "elsewhere" / "e.json")]) == 0
    assert json.loads((out / "decision.json").read_text())["epochs"] == 1  # beside the checkpoint, as score reads it
    image = str(next(dirs["abnormal_dir"].rglob("*.png")))
    score = ["score", str(out / "checkpoint.pt"), image, "--threshold-from", "test", "--out", str(tmp_path / "s")]
    assert main(score) == 0
    assert folder_train(dirs, out, "--epochs", "2", "--resume") == 0
    capsys.readouterr()
    assert main([*score, "--overwrite"]) == 2
    assert "made by `daad eval` at epoch 1, before the checkpoint was trained further" in capsys.readouterr().err


def test_overwrite_keeps_the_old_run_when_the_new_data_is_wrong(tmp_path, capsys):
    out = tmp_path / "run"
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    assert folder_train(dirs, out, "--epochs", "1") == 0
    before = (out / "checkpoint.pt").read_bytes()
    typo = {**dirs, "normal_dir": tmp_path / "goood"}
    assert folder_train(typo, out, "--epochs", "1", "--overwrite") == 2
    assert "goood is not a folder" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


def test_a_run_folder_inside_a_data_folder_is_refused_before_training(tmp_path, capsys):
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    out = dirs["normal_dir"] / "runs" / "ae"
    assert folder_train(dirs, out, "--epochs", "1") == 2
    assert "lies inside normal_dir" in capsys.readouterr().err and not out.exists()


def test_eval_every_without_anomalous_test_images_fails_before_training(tmp_path, capsys):
    dirs = make_folders(tmp_path, masks=None)
    out = tmp_path / "run"
    assert folder_train({"normal_dir": dirs["normal_dir"]}, out, "--epochs", "1", "--eval-every", "1") == 2
    assert "test set holds only normal images" in capsys.readouterr().err
    assert not (out / "checkpoint.pt").exists()


def test_a_single_image_batch_at_a_1x1_map_names_the_batch_size(tmp_path, capsys):
    assert main(["train", "--dataset", "stripes", "--model", "ae", "--image-size", "16", "--batch-size", "1", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "run")]) == 2
    assert "use a --batch-size of 2 or more" in capsys.readouterr().err


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import daad_lib.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_train", interrupted)  # parser() binds the module's cmd_train when main runs
    assert cli.main(["train", *TINY, "--out", str(tmp_path / "run")]) == 130
    error = capsys.readouterr().err
    assert "daad train: interrupted" in error and "--resume" in error and "Traceback" not in error


def test_train_warns_when_the_threshold_rests_on_too_few_held_out_images(tmp_path, capsys):
    assert train(tmp_path / "run") == 0
    printed = capsys.readouterr().out
    assert "warning: the 0.99 quantile of only" in printed and "--validation-ratio" in printed


def test_a_test_folder_of_links_to_training_images_is_refused(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    linked = tmp_path / "test_good"
    linked.mkdir()
    for path in sorted(dirs["normal_dir"].rglob("*.png"))[:2]:
        (linked / path.name).symlink_to(path)
    with pytest.raises(FolderLayoutError, match=r"same file as a train normal image"):
        Folder(**dirs, normal_test_dir=linked, split="test", image_size=16)


def test_resume_removes_the_partial_files_of_a_writer_killed_mid_save(tmp_path):
    out = tmp_path / "run"
    assert train(out) == 0
    (out / "checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # kill -9 inside atomic_write
    assert main(["train", *TINY, "--epochs", "2", "--resume", "--out", str(out)]) == 0
    assert not list(out.glob("*.tmp"))
