"""scripts/convert_magnetic_tile.py on a tiny generated copy of the public repository's layout."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daad_lib.data import MVTecAD

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("convert_magnetic_tile", ROOT / "scripts" / "convert_magnetic_tile.py")
convert_magnetic_tile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(convert_magnetic_tile)
SHARED = ROOT.parent / "shared" / "data" / "magnetic_tile"


def fake_repository(root: Path, n_free: int = 10, n_defect: int = 2) -> Path:
    """MT_<Kind>/Imgs/<name>.jpg + <name>.png, small grey images of varying size, as upstream."""
    rng = np.random.default_rng(0)
    for kind in convert_magnetic_tile.DEFECTS + (convert_magnetic_tile.NORMAL,):
        imgs = root / f"MT_{kind}" / "Imgs"
        imgs.mkdir(parents=True)
        for i in range(n_free if kind == "Free" else n_defect):
            h, w = 20 + i, 24 + 2 * i
            name = f"exp{i % 3}_num_{1000 + i}"
            Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(imgs / f"{name}.jpg")
            mask = np.zeros((h, w), np.uint8)
            if kind != "Free":
                mask[2:6, 3:9] = 255
            Image.fromarray(mask).save(imgs / f"{name}.png")
    return root


def test_converts_into_a_category_mvtecad_loads(tmp_path):
    src = fake_repository(tmp_path / "src")
    assert convert_magnetic_tile.main([str(src), str(tmp_path / "data")]) == 0
    folder = tmp_path / "data" / "magnetic_tile"
    assert sorted(p.name for p in (folder / "test").iterdir()) == [
        "blowhole", "break", "crack", "fray", "good", "uneven"]
    train = MVTecAD(folder, split="train", image_size=32, channels=1)
    test = MVTecAD(tmp_path / "data", "magnetic_tile", split="test", image_size=32, channels=1)
    assert len(train) == 8 and len(test) == 2 + 5 * 2
    labels = [test[i]["label"] for i in range(len(test))]
    assert sum(labels) == 10
    defective = next(test[i] for i in range(len(test)) if test[i]["label"] == 1)
    assert defective["image"].shape == (1, 32, 32) and defective["mask"].sum() > 0
    # images and masks are copied byte for byte
    name = "exp0_num_1000"
    assert (folder / "test/crack" / f"{name}.jpg").read_bytes() == (src / "MT_Crack/Imgs" / f"{name}.jpg").read_bytes()
    assert (folder / "ground_truth/crack" / f"{name}_mask.png").read_bytes() == (src / "MT_Crack/Imgs" / f"{name}.png").read_bytes()
    # no temporary folder left behind
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["magnetic_tile"]


def test_never_overwrites_without_the_flag(tmp_path, capsys):
    src = fake_repository(tmp_path / "src")
    dst = tmp_path / "data"
    (dst / "magnetic_tile").mkdir(parents=True)
    (dst / "magnetic_tile" / "mine.txt").write_text("keep me")
    assert convert_magnetic_tile.main([str(src), str(dst)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (dst / "magnetic_tile" / "mine.txt").read_text() == "keep me"
    assert convert_magnetic_tile.main([str(src), str(dst), "--overwrite"]) == 0
    assert not (dst / "magnetic_tile" / "mine.txt").exists()
    assert len(list((dst / "magnetic_tile" / "train" / "good").iterdir())) == 8


@pytest.mark.parametrize("breakage", ["missing-folder", "no-imgs", "missing-mask", "not-a-dir"])
def test_wrong_source_is_a_clear_error(tmp_path, capsys, breakage):
    src = fake_repository(tmp_path / "src")
    if breakage == "missing-folder":
        for p in (src / "MT_Fray" / "Imgs").iterdir():
            p.unlink()
        (src / "MT_Fray" / "Imgs").rmdir()
        (src / "MT_Fray").rmdir()
        expected = "MT_Fray/Imgs is missing"
    elif breakage == "no-imgs":
        for p in (src / "MT_Free" / "Imgs").glob("*.jpg"):
            p.unlink()
        expected = "holds no .jpg images"
    elif breakage == "missing-mask":
        next((src / "MT_Break" / "Imgs").glob("*.png")).unlink()
        expected = "has no mask"
    else:
        src = tmp_path / "nothing-here"
        expected = "is not a folder"
    assert convert_magnetic_tile.main([str(src), str(tmp_path / "data")]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "data" / "magnetic_tile").exists()


def test_split_rule_reproduces_the_shared_copy():
    """The rule, applied to the shared copy's defect-free names, gives exactly its split."""
    if not (SHARED / "train" / "good").is_dir():
        pytest.skip("the shared magnetic-tile copy is not here")
    train = sorted(os.listdir(SHARED / "train" / "good"))
    test = sorted(os.listdir(SHARED / "test" / "good"))
    got_train, got_test = convert_magnetic_tile.split_normal(train + test)
    assert got_train == train and sorted(got_test) == test


def test_split_rule_small_case():
    assert convert_magnetic_tile.split_normal([f"{i}.jpg" for i in range(10)]) == (
        ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg", "9.jpg"], ["7.jpg", "8.jpg"])
