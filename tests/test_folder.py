"""Folder datasets: your own images, with and without masks, and every way they can be wrong."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daad_lib.data import CorruptImageError, Folder, FolderLayoutError, build_dataset
from daad_lib.data.cache import in_memory

from .conftest import write_png


def make_folders(root: Path, masks: str | None = "mvtec") -> dict:
    """10 normal images of mixed sizes and modes (RGB, grey, RGBA, palette, JPEG), nested;
    4 defective images in two nested folders that reuse the same stems; masks named
    ``<stem>_mask.png`` in the same nested folders (``masks="mvtec"``), ``<stem>.png`` with
    0/1 values in one flat folder (``masks="flat"``), or none."""
    rng = np.random.default_rng(0)
    normal, abnormal, mask_dir = root / "good", root / "defect", root / "masks"
    for i in range(10):
        height, width = (24 + 4 * i, 40 - 2 * i)
        array = rng.integers(90, 140, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(array)
        image = [image, image.convert("L"), image.convert("RGBA"), image.convert("P")][i % 4]
        folder = normal / ("batch_b" if i >= 5 else "batch_a")
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / (f"{i:03d}.jpg" if i == 9 else f"{i:03d}.png"))
    for k, (kind, stem) in enumerate([("crack", "000"), ("crack", "001"), ("hole", "000"), ("hole", "002")]):
        array = rng.integers(90, 140, (32, 32, 3), dtype=np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        mask[4 * k:4 * k + 8, 8:16] = 1
        array[mask > 0] = 255
        write_png(abnormal / kind / f"{stem}.png", array)
        if masks == "mvtec":
            write_png(mask_dir / kind / f"{stem}_mask.png", mask * 255)
        elif masks == "flat":
            write_png(mask_dir / f"{kind}_{stem}.png", mask)  # renamed below: flat stems must be unique
    if masks == "flat":  # give the flat masks the images' own stems (unique after renaming the images)
        for path in sorted(abnormal.rglob("*.png")):
            path.rename(path.with_name(f"{path.parent.name}_{path.name}"))
    return {"normal_dir": normal, "abnormal_dir": abnormal, "mask_dir": mask_dir if masks else None}


def test_without_masks_split_and_items(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    del dirs["mask_dir"]
    train = Folder(**dirs, split="train", image_size=16)
    test = Folder(**dirs, split="test", image_size=16)
    assert len(train) == 8 and len(test) == 2 + 4  # 20 % of 10 normal images held out
    assert test.labels == [0, 0, 1, 1, 1, 1]
    assert not {p for p, _, _ in train.items} & {p for p, _, _ in test.items}  # disjoint
    item = test[5]
    assert set(item) == {"image", "label"} and item["image"].shape == (3, 16, 16)
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    again = Folder(**dirs, split="test", image_size=16)
    assert [p for p, _, _ in again.items] == [p for p, _, _ in test.items]  # same seed, same split
    other = Folder(**dirs, split="test", image_size=16, seed=1)
    assert [p for p, _, _ in other.items][:2] != [p for p, _, _ in test.items][:2]


def test_mixed_sizes_and_modes_load_as_grey_or_colour(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    for channels in (1, 3):
        data = in_memory(Folder(dirs["normal_dir"], split="train", image_size=16, channels=channels,
                                normal_split_ratio=0))
        assert data.images.shape == (10, channels, 16, 16)
    modes = {Image.open(p).mode for p in Path(dirs["normal_dir"]).rglob("*.*")}
    assert modes == {"RGB", "L", "RGBA", "P"}


def test_mvtec_style_masks_in_nested_folders(tmp_path):
    dirs = make_folders(tmp_path, masks="mvtec")
    test = Folder(**dirs, split="test", image_size=16)
    masks = [test[i]["mask"] for i in range(len(test))]
    assert all(m.shape == (16, 16) for m in masks)
    assert [float(m.sum()) for m in masks] == [0, 0, 16, 16, 16, 16]  # 8x8 defects at half size
    # crack/000 and hole/000 share a stem: each gets the mask of its own folder (rows 0-8 vs 8-16)
    by_name = {f"{p.parent.name}/{p.stem}": i for i, (p, _, _) in enumerate(test.items)}
    assert masks[by_name["crack/000"]][:4].sum() == 16 and masks[by_name["hole/000"]][:4].sum() == 0
    assert "mask" in Folder(**dirs, split="train", image_size=16)[0]  # same keys in both splits


def test_flat_masks_with_zero_one_values(tmp_path):
    dirs = make_folders(tmp_path, masks="flat")
    test = Folder(**dirs, split="test", image_size=32)
    assert [float(test[i]["mask"].sum()) for i in range(2, 6)] == [64.0] * 4


def test_missing_mask_names_the_image(tmp_path):
    dirs = make_folders(tmp_path, masks="mvtec")
    (dirs["mask_dir"] / "hole" / "002_mask.png").unlink()
    with pytest.raises(FolderLayoutError, match=r"no mask for defective image .*hole/002\.png"):
        Folder(**dirs, split="test", image_size=16)


def test_ambiguous_mask_is_refused(tmp_path):
    dirs = make_folders(tmp_path, masks="mvtec")
    write_png(dirs["mask_dir"] / "crack" / "001.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(FolderLayoutError, match=r"several masks match defective image .*crack/001\.png"):
        Folder(**dirs, split="test", image_size=16)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(FolderLayoutError, match=r"normal_dir .*empty holds no images"):
        Folder(tmp_path / "empty")
    with pytest.raises(FolderLayoutError, match=r"normal_dir .*nowhere is not a folder"):
        Folder(tmp_path / "nowhere")
    dirs = make_folders(tmp_path / "data", masks=None)
    with pytest.raises(FolderLayoutError, match=r"abnormal_dir .*empty holds no images"):
        Folder(dirs["normal_dir"], tmp_path / "empty", split="test")
    with pytest.raises(FolderLayoutError, match="mask_dir needs abnormal_dir"):
        Folder(dirs["normal_dir"], mask_dir=tmp_path)
    with pytest.raises(FolderLayoutError, match="the test split is empty"):
        Folder(dirs["normal_dir"], split="test", normal_split_ratio=0)


def test_non_image_file_is_named(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    (dirs["normal_dir"] / "batch_a" / "notes.txt").write_text("labels by hand")
    (dirs["normal_dir"] / ".DS_Store").write_bytes(b"\0")  # hidden files are skipped
    with pytest.raises(FolderLayoutError, match=r"batch_a/notes\.txt in normal_dir is not an image"):
        Folder(dirs["normal_dir"])


def test_corrupt_image_is_named(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    bad = dirs["normal_dir"] / "batch_b" / "005.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    data = Folder(dirs["normal_dir"], split="train", image_size=16, normal_split_ratio=0)
    with pytest.raises(CorruptImageError, match=r"cannot read image .*batch_b/005\.png"):
        in_memory(data)


def test_normal_test_dir_replaces_the_held_out_share(tmp_path):
    dirs = make_folders(tmp_path, masks=None)
    write_png(tmp_path / "good_test" / "a.png", np.full((20, 20, 3), 100, np.uint8))
    spec = dict(normal_dir=dirs["normal_dir"], abnormal_dir=dirs["abnormal_dir"],
                normal_test_dir=tmp_path / "good_test")
    assert len(build_dataset("folder", "train", 16, **spec)) == 10
    test = build_dataset("folder", "test", 16, **spec)
    assert test.labels == [0, 1, 1, 1, 1] and test.items[0][0].name == "a.png"


def test_folder_arguments_for_another_dataset_are_refused():
    with pytest.raises(ValueError, match="normal_dir: arguments of the folder dataset"):
        build_dataset("stripes", "train", 16, normal_dir="x")


def test_split_share_is_seeded_and_bounded():
    from daad_lib.data.folder import held_out

    assert int(held_out(10, 0.2, 0).sum()) == 2 and int(held_out(3, 0.2, 0).sum()) == 1
    assert int(held_out(1, 0.5, 0).sum()) == 0  # never the only image
    assert torch.equal(held_out(50, 0.2, 7), held_out(50, 0.2, 7))


def test_defect_types_come_from_the_folders_and_eval_splits_by_them(tmp_path):
    from daad_lib.evaluate import evaluate
    from daad_lib.models import build_model

    dirs = make_folders(tmp_path, masks="mvtec")
    test = Folder(**dirs, split="test", image_size=32)
    assert test.types == [None, None, "crack", "crack", "hole", "hole"]
    flat = make_folders(tmp_path / "flat", masks=None)
    for path in sorted(flat["abnormal_dir"].rglob("*.png")):
        path.rename(flat["abnormal_dir"] / f"{path.parent.name}_{path.name}")
    assert set(Folder(flat["normal_dir"], abnormal_dir=flat["abnormal_dir"], split="test").types) == {None, "defect"}
    result = evaluate(build_model("ae", image_size=32, widths=(8, 16)).eval(), test)
    assert set(result["by_defect_type"]) == {"crack", "hole"}
    assert all(row["num_images"] == 2 and 0 <= row["image_auroc"] <= 1 and 0 <= row["pixel_auroc"] <= 1
               for row in result["by_defect_type"].values())
