"""The one-class protocol of Table 2 (as in OCGAN, Perera et al. 2019).

One class is normal: train on its training images only; test on the whole test
set, every other class being anomalous (label 1). MNIST is read with
``torchvision.datasets.MNIST``; CIFAR-10 from ImageFolder PNGs
(``cifar10/{train,test}/<class>/``) or torchvision's own CIFAR-10 files;
scikit-learn's 8x8 digits need no download at all.

Two preprocessings (``preprocessing=``):

* ``"range"`` (default, Sec. 4.1): pixels linearly to [-1, 1];
* ``"gcn-l1"`` (Deep SVDD's, Ruff et al. 2018, for its DCAE baseline): global contrast
  normalisation of each image with the l1 norm (subtract its mean, divide by its mean absolute
  value), then min-max scaling with the minimum and maximum over the **normal class's training
  images**, mapped to [-1, 1] for our tanh decoders (Deep SVDD maps to [0, 1] with a sigmoid:
  the same up to a factor 2 on every error, which leaves every AUROC unchanged). Test images
  use the same constants, so they may fall outside [-1, 1].
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import datasets, transforms

from .common import to_model_range

PREPROCESSINGS = ("range", "gcn-l1")


def global_contrast_l1(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> the image minus its mean, divided by its mean absolute deviation (l1 GCN)."""
    centred = image - image.mean()
    return centred / centred.abs().mean().clamp_min(1e-12)


class ContrastNormalised:
    """PIL image -> resized, l1 GCN, min-max scaled by (low, high) to [-1, 1]: (C, S, S)."""

    def __init__(self, image_size: int, low: float, high: float):
        self.resize = transforms.Compose([transforms.Resize((image_size, image_size), antialias=True),
                                          transforms.ToTensor()])
        self.low, self.high = low, high

    def __call__(self, image) -> torch.Tensor:
        scaled = (global_contrast_l1(self.resize(image)) - self.low) / (self.high - self.low)  # [0, 1] on train
        return scaled * 2 - 1


def check_preprocessing(preprocessing: str) -> None:
    if preprocessing not in PREPROCESSINGS:
        raise ValueError(f"preprocessing must be one of {PREPROCESSINGS}, got {preprocessing!r}")


@lru_cache(maxsize=32)
def contrast_range(name: str, root: str, normal_class: int, image_size: int) -> tuple[float, float]:
    """Min and max of the l1-GCN pixels over the normal class's training images (cached)."""
    base, targets = raw_split(name, Path(root), "train", transforms.Compose([
        transforms.Resize((image_size, image_size), antialias=True), transforms.ToTensor()]))
    values = [global_contrast_l1(base[int(i)][0]) for i in torch.nonzero(torch.as_tensor(targets) == normal_class)]
    if not values:
        raise ValueError(f"normal class {normal_class} has no training images")
    stacked = torch.stack(values)  # (n, C, S, S)
    return float(stacked.min()), float(stacked.max())


def transform_for(name: str, root: Path, normal_class: int, image_size: int, preprocessing: str):
    check_preprocessing(preprocessing)
    channels = 1 if name == "mnist" else 3
    if preprocessing == "range":
        return to_model_range(image_size, channels)
    return ContrastNormalised(image_size, *contrast_range(name, str(root), normal_class, image_size))


def raw_split(name: str, root: Path, split: str, transform) -> tuple[Dataset, list]:
    """The labelled MNIST or CIFAR-10 split with ``transform``: (dataset, targets)."""
    if name == "mnist":
        try:
            base = datasets.MNIST(str(root), train=split == "train", download=False, transform=transform)
        except RuntimeError as error:
            raise FileNotFoundError(f"MNIST not found under {root}/MNIST/raw: {error}") from error
        return base, base.targets
    folder = Path(root) / "cifar10" / split
    if folder.is_dir():
        base = datasets.ImageFolder(str(folder), transform=transform)
        return base, base.targets
    try:
        base = datasets.CIFAR10(str(root), train=split == "train", download=False, transform=transform)
    except RuntimeError as error:
        raise FileNotFoundError(f"CIFAR-10 not found: neither {folder} (ImageFolder PNGs) nor "
                                f"torchvision's cifar-10-batches-py under {root}") from error
    return base, base.targets


class OneClass(Dataset):
    """Wrap a labelled dataset into the one-class protocol.

    Args:
        base: a dataset whose items are ``(image tensor, class)``.
        targets: the class of every item of ``base``.
        normal_class: the class that counts as normal.
        split: ``"train"`` keeps only the normal class; ``"test"`` keeps everything.
        flips: whether the paper's random horizontal + vertical flips keep a normal image
            normal, which makes them the training default (``TrainConfig(flips=None)``, read by
            :func:`daad_lib.data.default_flips`). ``False`` for digits (both flips turn a 6 into
            a 9-like shape) and CIFAR-10 (an upside-down ship is no normal ship):
            ``results/dcae/flips.md``.
        preprocessing: the name of ``base``'s transform (``"range"`` or ``"gcn-l1"``), recorded
            so that a trained model knows its inputs (:func:`daad_lib.data.input_spec`).
    """

    def __init__(self, base: Dataset, targets, normal_class: int, split: str, flips: bool = True,
                 preprocessing: str = "range"):
        targets = torch.as_tensor(targets)
        classes = sorted(torch.unique(targets).tolist())
        if normal_class not in classes:
            raise ValueError(f"normal class {normal_class} is not one of the classes {classes}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.base, self.normal_class, self.flips, self.preprocessing = base, normal_class, flips, preprocessing
        keep = targets == normal_class if split == "train" else torch.ones_like(targets, dtype=torch.bool)
        self.indices = torch.nonzero(keep).flatten().tolist()
        self.labels = (targets[self.indices] != normal_class).long().tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        image, _ = self.base[self.indices[index]]
        return {"image": image, "label": self.labels[index]}


def mnist(root: Path, split: str, normal_class: int, image_size: int = 32,
          preprocessing: str = "range") -> OneClass:
    """MNIST (torchvision layout under ``root/MNIST/raw``), resized to ``image_size``; trained
    without flips by default (digits: see :class:`OneClass`)."""
    base, targets = raw_split("mnist", root, split, transform_for("mnist", root, normal_class, image_size,
                                                                  preprocessing))
    return OneClass(base, targets, normal_class, split, flips=False, preprocessing=preprocessing)


def cifar10(root: Path, split: str, normal_class: int, image_size: int = 32,
            preprocessing: str = "range") -> OneClass:
    """CIFAR-10 from ``root/cifar10/<split>/<class>/*.png`` or torchvision's batches; trained
    without flips by default: a vertical flip does not keep an upright ship normal, and the
    footing on which our AE was checked against a published one trains without any
    (``results/dcae/flips.md``, "CIFAR-10 decided")."""
    base, targets = raw_split("cifar10", root, split, transform_for("cifar10", root, normal_class, image_size,
                                                                    preprocessing))
    return OneClass(base, targets, normal_class, split, flips=False, preprocessing=preprocessing)


class Digits(Dataset):
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled to ``image_size``.

    Split half/half into train and test, stratified by class, with a fixed seed,
    so that the set ships with scikit-learn and needs no download.
    """

    def __init__(self, split: str, image_size: int = 32, seed: int = 0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
        targets = torch.tensor(digits.target)
        train_idx, test_idx = train_test_split(torch.arange(len(targets)).numpy(), test_size=0.5,
                                               stratify=targets.numpy(), random_state=seed)
        chosen = torch.as_tensor(train_idx if split == "train" else test_idx)
        images = F.interpolate(images[chosen, None], size=(image_size, image_size), mode="bilinear",
                               align_corners=False)  # (n, 1, S, S)
        self.images = images * 2 - 1  # [-1, 1]
        self.targets = targets[chosen]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])


def digits(split: str, normal_class: int, image_size: int = 32) -> OneClass:
    """scikit-learn's digits under the one-class protocol; trained without flips by default."""
    base = Digits(split, image_size)
    return OneClass(base, base.targets, normal_class, split, flips=False)
