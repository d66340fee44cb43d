"""Datasets: MVTec AD, your own image folders, the one-class MNIST / CIFAR-10 / digits
protocol, toy stripes.

:func:`build_dataset` makes any of them from a small spec, the same spec that a
checkpoint stores so that ``daad eval`` can rebuild the test set.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset, Subset

from .cache import InMemory
from .common import FITS, CorruptImageError, default_data_dir, load_image, resolve_data_dir
from .folder import Folder, FolderLayoutError
from .mvtec import MAGNETIC_TILE, MVTecAD, MVTecLayoutError
from .oneclass import OneClass, cifar10, digits, mnist
from .stripes import Stripes, stripes

DATASETS = ("mvtec", "folder", "mnist", "cifar10", "digits", "stripes")
FIT_DATASETS = ("mvtec", "folder")  # whose images may be other than square: the ``fit`` option
CHANNELS = {"mvtec": 3, "folder": 3, "mnist": 1, "cifar10": 3, "digits": 1, "stripes": 3}


def build_dataset(name: str, split: str, image_size: int, data_dir: str | Path | None = None,
                  category: str | None = None, normal_class: int = 0, preprocessing: str = "range",
                  fit: str = "stretch", **folder) -> Dataset:
    """A train or test split. Items are dicts with ``image``, ``label`` (and ``mask`` for MVTec,
    and for a folder dataset with a ``mask_dir``).

    ``data_dir`` defaults to :func:`default_data_dir` (``$DAAD_DATA_DIR`` or ../shared/data);
    for MVTec it may be the MVTec AD root (with ``category``, default ``"bottle"``) or a
    category folder itself (then ``category``, if given, must be that folder's name).
    ``name="folder"`` takes :class:`Folder`'s arguments as keywords (``normal_dir``,
    ``abnormal_dir``, ``mask_dir``, ``normal_test_dir``, ``channels``, ...) and no ``data_dir``.
    ``preprocessing`` (MNIST and CIFAR-10 only): ``"range"`` or Deep SVDD's ``"gcn-l1"``
    (:mod:`daad_lib.data.oneclass`). ``fit`` (MVTec layout and folders only): ``"stretch"`` every
    image to S x S (the paper's) or ``"pad"`` it, keeping its aspect ratio
    (:func:`~daad_lib.data.common.fit_box`).
    """
    if preprocessing != "range" and name not in ("mnist", "cifar10"):
        raise ValueError(f"preprocessing {preprocessing!r} is an option of mnist and cifar10, not {name!r}")
    if fit != "stretch" and name not in FIT_DATASETS:
        raise ValueError(f"fit {fit!r} is an option of {' and '.join(FIT_DATASETS)}, not {name!r}: its images are square")
    if name == "folder":
        return Folder(split=split, image_size=image_size, fit=fit, **folder)
    if folder:
        raise ValueError(f"{', '.join(sorted(folder))}: arguments of the folder dataset, not of {name!r}")
    if name == "stripes":
        return Stripes(split, image_size)
    if name == "digits":
        return digits(split, normal_class, image_size)
    root = resolve_data_dir(data_dir)
    if name == "mvtec":
        base = root / "mvtec_ad" if (root / "mvtec_ad").is_dir() else root
        if (base / "train").is_dir():  # data_dir is a category folder itself
            if category is not None and category != base.name:
                raise MVTecLayoutError(f"data directory {base} is the category folder {base.name!r}, but the "
                                       f"category asked for is {category!r}: give the MVTec AD root instead, "
                                       f"or drop --category")
            return MVTecAD(base, None, split, image_size, fit=fit)
        return MVTecAD(base, category or "bottle", split, image_size, fit=fit)
    if name == "mnist":
        return mnist(root, split, normal_class, image_size, preprocessing)
    if name == "cifar10":
        return cifar10(root, split, normal_class, image_size, preprocessing)
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")


def unwrapped(dataset: Dataset) -> Dataset:
    """The dataset inside :class:`~torch.utils.data.Subset` and :class:`~daad_lib.data.cache.InMemory`
    wrappers (an InMemory of unknown source: None)."""
    while isinstance(dataset, (Subset, InMemory)):
        dataset = dataset.dataset if isinstance(dataset, Subset) else dataset.source
    return dataset


def input_spec(dataset: Dataset) -> dict:
    """How ``dataset`` makes its inputs, as the spec fields that differ from the defaults:
    ``{"fit": "pad"}`` for padded images, ``{"preprocessing": "gcn-l1"}`` for Deep SVDD's
    preprocessing; ``{}`` for the paper's. What training records when no spec is given.

    >>> from daad_lib.data import Stripes
    >>> input_spec(Stripes("train", image_size=32, num_images=4))
    {}
    """
    inner = unwrapped(dataset)
    spec = {key: getattr(inner, key) for key, default in (("fit", "stretch"), ("preprocessing", "range"))
            if getattr(inner, key, default) != default}
    return {"name": type(inner).__name__, **spec} if spec else {}


def default_flips(dataset: Dataset) -> bool:
    """Whether training on ``dataset`` uses the paper's random horizontal + vertical flips
    (Sec. 4.1) when :class:`~daad_lib.train.TrainConfig` leaves ``flips=None``: yes for MVTec AD,
    folders and stripes, no for digits and CIFAR-10 (``OneClass(flips=False)``), whose flips
    make a normal 6 look like a 9 and stand a ship on its mast. Looks through :class:`~torch.utils.data.Subset` and
    :class:`~daad_lib.data.cache.InMemory` wrappers; a dataset of your own that does not say
    (no ``flips`` attribute) gets the paper's flips."""
    return bool(getattr(unwrapped(dataset), "flips", True))  # an InMemory of unknown source: None, the paper's flips


__all__ = ["default_flips", "input_spec", "DATASETS", "CHANNELS", "build_dataset", "Folder", "FolderLayoutError", "MAGNETIC_TILE", "MVTecAD",
           "MVTecLayoutError", "OneClass", "Stripes", "stripes", "mnist", "cifar10", "digits", "CorruptImageError",
           "default_data_dir", "resolve_data_dir", "load_image", "FIT_DATASETS", "FITS"]
