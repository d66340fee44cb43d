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
from daad_lib.data.folder import find_images

from .conftest import write_png
from .test_cli import folder_train
from .test_folder import make_folders
from .test_safety import TINY, train


def unmasked_folders(root: Path) -> dict:
    """test_folder.make_folders without masks: normal_dir and abnormal_dir only."""
    dirs = make_folders(root, masks=None)
    del dirs["mask_dir"]
    return dirs


def test_eval_and_resume_refuse_a_normal_folder_whose_images_changed(tmp_path, capsys):
    """The test split is a seeded share of normal_dir's sorted files: a file added later would
    reshuffle it and put trained-on images in the test set, silently."""
    dirs = unmasked_folders(tmp_path)
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
    dirs = unmasked_folders(tmp_path)
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


def test_overwrite_keeps_the_old_run_when_the_new_data_or_settings_are_wrong(tmp_path, capsys):
    out = tmp_path / "run"
    dirs = unmasked_folders(tmp_path)
    assert folder_train(dirs, out, "--epochs", "1") == 0
    before = (out / "checkpoint.pt").read_bytes()
    typo = {**dirs, "normal_dir": tmp_path / "goood"}
    assert folder_train(typo, out, "--epochs", "1", "--overwrite") == 2  # found while reading the data
    assert "goood is not a folder" in capsys.readouterr().err
    two = tmp_path / "two"
    for i in range(2):
        write_png(two / f"{i}.png", np.full((20, 20, 3), 120, np.uint8))
    assert folder_train({"normal_dir": two}, out, "--epochs", "1", "--overwrite") == 2  # found after it
    assert "too few to hold out" in capsys.readouterr().err  # 1 training image: nothing to hold out
    assert (out / "checkpoint.pt").read_bytes() == before


def test_a_run_folder_inside_a_data_folder_is_refused_before_training(tmp_path, capsys):
    dirs = unmasked_folders(tmp_path)
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
    assert "every process needs batches of 2 images or more" in capsys.readouterr().err


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import daad_lib.cli as cli

    out = tmp_path / "run"
    real_train = cli.cmd_train

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_train", interrupted)  # parser() binds the module's cmd_train when main runs
    assert cli.main(["train", *TINY, "--out", str(out)]) == 130
    error = capsys.readouterr().err
    assert "daad train: interrupted" in error and "--resume" not in error  # nothing saved yet: nothing to resume
    monkeypatch.setattr(cli, "cmd_train", real_train)
    assert train(out) == 0
    monkeypatch.setattr(cli, "cmd_train", interrupted)
    assert cli.main(["train", *TINY, "--epochs", "2", "--resume", "--out", str(out)]) == 130
    error = capsys.readouterr().err
    assert "keeps the last finished epoch" in error and "--resume" in error and "Traceback" not in error


def test_train_warns_when_the_threshold_rests_on_too_few_held_out_images(tmp_path, capsys):
    assert train(tmp_path / "run") == 0
    printed = capsys.readouterr().out
    assert "warning: the 0.99 quantile of only" in printed and "--validation-ratio" in printed


def test_a_test_folder_of_links_to_training_images_is_refused(tmp_path):
    dirs = unmasked_folders(tmp_path)
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


def test_only_a_change_that_moves_the_split_is_refused(tmp_path, capsys):
    """Defective images or masks added later, or normal_dir changed when the normal test images
    come from their own folder, do not touch the held-out split: eval goes on."""
    dirs = make_folders(tmp_path, masks="mvtec")
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "1") == 0
    write_png(dirs["abnormal_dir"] / "hole" / "009.png", np.full((32, 32, 3), 200, np.uint8))
    write_png(dirs["mask_dir"] / "hole" / "009_mask.png", np.full((32, 32), 255, np.uint8))
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    separate = make_folders(tmp_path / "b", masks=None)
    test_good = tmp_path / "b" / "test_good"
    write_png(test_good / "000.png", np.full((20, 20, 3), 120, np.uint8))
    own = {"normal_dir": separate["normal_dir"], "abnormal_dir": separate["abnormal_dir"], "normal_test_dir": test_good}
    assert folder_train(own, tmp_path / "run2", "--epochs", "1") == 0
    write_png(separate["normal_dir"] / "batch_a" / "new.png", np.full((20, 20, 3), 120, np.uint8))
    assert main(["eval", str(tmp_path / "run2" / "checkpoint.pt")]) == 0


def test_runs_recorded_before_the_contents_existed_still_evaluate_and_resume(tmp_path):
    from daad_lib.checkpoint import load_checkpoint, update_checkpoint

    dirs = unmasked_folders(tmp_path)
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "1") == 0
    dataset = load_checkpoint(out / "checkpoint.pt")["dataset"]
    update_checkpoint(out / "checkpoint.pt", dataset={k: v for k, v in dataset.items() if k != "contents"})
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    assert folder_train(dirs, out, "--epochs", "2", "--resume") == 0


def test_eval_at_another_gamma_writes_no_threshold_for_score(tmp_path, capsys):
    dirs = unmasked_folders(tmp_path)
    out = tmp_path / "run"
    assert folder_train(dirs, out, "--epochs", "1") == 0
    assert main(["eval", str(out / "checkpoint.pt"), "--gamma", "0.5", "--out", str(tmp_path / "e.json")]) == 0
    assert "no decision.json written" in capsys.readouterr().out and not (out / "decision.json").exists()


def test_torchrun_through_the_cli_ends_cleanly_on_every_rank(tmp_path):
    """The CLI joins and leaves the process group itself (tests/ddp_worker.py joins first, so it
    never took this path); after leaving, rank 1 used to think it was rank 0 and crash."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "daad_lib.cli", "train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=root,
                          env={**os.environ, "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained ae for 1 epoch") == 1


def test_an_oversized_mask_is_refused_by_name_like_an_image(tmp_path, monkeypatch):
    from daad_lib.data import CorruptImageError

    write_png(tmp_path / "mask.png", np.zeros((100, 100), np.uint8))
    for limit in (6000, 2000):  # 10,000 pixels: PIL warns above 1x its limit, raises above 2x
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(CorruptImageError, match=r"mask\.png has more pixels than PIL's safety limit"):
            load_mask(tmp_path / "mask.png", 16)


def test_twelve_bit_data_in_sixteen_bit_files_is_warned_about_once(tmp_path):
    dirs = unmasked_folders(tmp_path)
    camera = np.linspace(1000, 3000, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit values in a 16-bit PNG
    for name in ("cam1.png", "cam2.png"):
        Image.fromarray(camera).save(dirs["normal_dir"] / "batch_a" / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Folder(**dirs, split="train", image_size=16).check_readable()
    messages = [str(w.message) for w in caught if "16-bit" in str(w.message)]
    assert len(messages) == 1 and "images are 16-bit with values far below 65535" in messages[0]
    assert "at most 3000" in messages[0] and "12-bit camera data" in messages[0]


def test_symlinked_sub_folders_are_read_once_and_loops_end(tmp_path):
    """A normal folder that links in another folder of images (a common way to gather batches) must
    count those images, not drop them silently; a link that loops back must not hang or repeat."""
    rng = np.random.default_rng(0)
    batch = tmp_path / "elsewhere" / "batch2"
    for i in range(3):
        write_png(batch / f"{i:03d}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    normal = tmp_path / "good"
    for i in range(2):
        write_png(normal / "batch1" / f"{i:03d}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    (normal / "batch2").symlink_to(batch, target_is_directory=True)
    (normal / "batch1" / "loop").symlink_to(normal, target_is_directory=True)  # a cycle
    (normal / "again").symlink_to(batch, target_is_directory=True)  # the same folder linked twice
    found = find_images(normal, "normal_dir")
    assert len(found) == 5 and len({path.resolve() for path in found}) == 5
    assert [path.parent.name for path in found] == ["again"] * 3 + ["batch1"] * 2  # the first link in sorted order
