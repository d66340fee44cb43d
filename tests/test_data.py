"""Datasets: MVTec layout (tiny and real), one-class protocol, stripes, clear errors."""
from __future__ import annotations

import pytest
import torch

from daad_lib.data import CorruptImageError, MVTecAD, MVTecLayoutError, Stripes, build_dataset, cifar10, digits, mnist

from .conftest import shared_data


def test_tiny_mvtec_layout(tiny_mvtec):
    train = MVTecAD(tiny_mvtec, split="train", image_size=16)
    test = MVTecAD(tiny_mvtec.parent, "widget", split="test", image_size=16)
    assert len(train) == 6 and len(test) == 5
    assert test.labels == [1, 1, 1, 0, 0]  # defect folders sort before "good"
    item = test[0]
    assert item["image"].shape == (3, 16, 16)
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["mask"].shape == (16, 16) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["mask"].sum() == 16  # the 8x8 defect at half resolution
    assert test[4]["mask"].sum() == 0 and train[0]["label"] == 0


def test_bottle_counts():
    bottle = shared_data("mvtec_ad", "bottle")
    train = MVTecAD(bottle, split="train", image_size=64)
    test = MVTecAD(bottle, split="test", image_size=64)
    assert len(train) == 209 and len(test) == 83
    assert sum(test.labels) == 63
    assert sum(1 for _, _, mask in test.items if mask is not None) == 63
    assert test[0]["mask"].sum() > 0


def test_folder_not_in_mvtec_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(MVTecLayoutError, match=r"photos is not in the MVTec AD layout"):
        MVTecAD(tmp_path / "photos")
    with pytest.raises(MVTecLayoutError, match="does not exist"):
        MVTecAD(tmp_path, "carpet")


def test_empty_train_good(tiny_mvtec):
    for image in (tiny_mvtec / "train" / "good").iterdir():
        image.unlink()
    with pytest.raises(MVTecLayoutError, match=r"train/good holds no images"):
        MVTecAD(tiny_mvtec)


def test_missing_mask(tiny_mvtec):
    (tiny_mvtec / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(MVTecLayoutError, match="missing ground-truth mask .*001_mask.png"):
        MVTecAD(tiny_mvtec, split="test")


def test_corrupt_png_names_the_file(tiny_mvtec):
    bad = tiny_mvtec / "train" / "good" / "000.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    dataset = MVTecAD(tiny_mvtec, split="train", image_size=16)
    with pytest.raises(CorruptImageError, match=r"cannot read image .*000\.png"):
        dataset[0]


def test_build_dataset_accepts_category_folder_or_root(tiny_mvtec):
    by_folder = build_dataset("mvtec", "train", 16, data_dir=tiny_mvtec)
    by_root = build_dataset("mvtec", "train", 16, data_dir=tiny_mvtec.parent, category="widget")
    assert len(by_folder) == len(by_root) == 6


def test_digits_one_class_protocol():
    train, test = digits("train", 3, 16), digits("test", 3, 16)
    assert set(train.labels) == {0} and 85 <= len(train) <= 95
    assert len(test) in (898, 899) and 85 <= len(test) - sum(test.labels) <= 95
    item = test[0]
    assert item["image"].shape == (1, 16, 16) and item["image"].min() >= -1


def test_stripes_normal_and_anomalous():
    train, test = Stripes("train", 16, num_images=8), Stripes("test", 16, num_images=8)
    assert train.labels == [0] * 8 and test.labels == [0, 1] * 4
    vertical = test[1]["image"]
    assert torch.equal(vertical[:, 0], vertical[:, 5])  # every row the same: vertical stripes
    diagonal = test[0]["image"]
    assert torch.equal(diagonal[:, 1, :-1], diagonal[:, 0, 1:])  # shifted by one each row


def test_mnist_one_class():
    root = shared_data("MNIST", "raw").parents[1]
    train, test = mnist(root, "train", 0), mnist(root, "test", 0)
    assert len(train) == 5923 and len(test) == 10000 and sum(test.labels) == 10000 - 980
    assert train[0]["image"].shape == (1, 32, 32)


def test_cifar10_one_class():
    root = shared_data("cifar10", "train").parents[1]
    train, test = cifar10(root, "train", 3), cifar10(root, "test", 3)
    assert len(train) == 5000 and len(test) == 10000 and sum(test.labels) == 9000
    assert train[0]["image"].shape == (3, 32, 32)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_dataset("mnist", "train", 32, data_dir=tmp_path / "nowhere")


def test_in_memory_copy_is_exact(tiny_mvtec):
    from daad_lib.data.cache import in_memory

    test = MVTecAD(tiny_mvtec, split="test", image_size=16)
    cached = in_memory(test)
    assert cached.images.dtype == torch.uint8  # 8-bit files are stored as bytes
    for i in range(len(test)):
        original, copy = test[i], cached[i]
        torch.testing.assert_close(copy["image"], original["image"], rtol=0, atol=1e-6)
        assert torch.equal(copy["mask"], original["mask"]) and copy["label"] == original["label"]
    batch = cached.batch(torch.tensor([4, 0]))
    assert batch["label"].tolist() == [0, 1] and batch["mask"].shape == (2, 16, 16)
    stripes = in_memory(Stripes("train", 16, num_images=4))
    assert stripes.images.dtype == torch.float32  # generated values are not bytes: kept as floats


def test_global_contrast_l1_and_its_min_max_scaling():
    from PIL import Image

    from daad_lib.data.oneclass import ContrastNormalised, global_contrast_l1

    image = torch.tensor([[[0.0, 0.2], [0.4, 0.6]]])  # (1, 2, 2)
    gcn = global_contrast_l1(image)
    assert abs(float(gcn.mean())) < 1e-6 and float(gcn.abs().mean()) == pytest.approx(1.0)
    assert torch.allclose(global_contrast_l1(image * 3 + 0.1), gcn, atol=1e-6)  # contrast and brightness removed
    low, high = float(gcn.min()), float(gcn.max())
    scaled = ContrastNormalised(2, low, high)(Image.fromarray((image[0].numpy() * 255).astype("uint8")))
    assert float(scaled.min()) == pytest.approx(-1, abs=0.02) and float(scaled.max()) == pytest.approx(1, abs=0.02)


def test_gcn_preprocessing_uses_the_normal_class_training_range():
    from daad_lib.data.cache import in_memory

    root = shared_data("MNIST", "raw").parents[1]
    train = in_memory(build_dataset("mnist", "train", 32, root, normal_class=1, preprocessing="gcn-l1"))
    assert float(train.images.min()) == pytest.approx(-1, abs=1e-5)  # the range is the training images'
    assert float(train.images.max()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(ValueError, match="preprocessing 'gcn-l1' is an option of mnist and cifar10"):
        build_dataset("digits", "train", 32, preprocessing="gcn-l1")


def test_cifar10_trains_without_flips_by_default(tmp_path):
    """An upside-down ship is no normal ship: one-class CIFAR-10 asks for no flips (results/dcae/flips.md)."""
    from PIL import Image

    from daad_lib.data import default_flips
    for split in ("train", "test"):
        for name in ("airplane", "automobile"):
            (tmp_path / "cifar10" / split / name).mkdir(parents=True)
            Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / "cifar10" / split / name / "0.png")
    train = cifar10(tmp_path, "train", 0)
    assert len(train) == 1 and default_flips(train) is False
