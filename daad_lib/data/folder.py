"""Your own images: folders of normal (and optionally defective) images, as anomalib's Folder.

    normal_dir/          normal images, nested folders allowed (training, minus a held-out share)
    abnormal_dir/        defective images (test only), optional
    mask_dir/            ground-truth masks of the defective images, optional
    normal_test_dir/     normal test images, optional

Without ``normal_test_dir``, a seeded ``normal_split_ratio`` share of the normal images
(20 % by default) is held out for testing; the same seed gives the same split, so
``daad eval`` rebuilds exactly the test set training did not see.

Masks are matched to defective images by file stem: ``crack/007.png`` takes
``mask_dir/crack/007.png`` (any image suffix) or MVTec's ``mask_dir/crack/007_mask.png``,
else the only mask in ``mask_dir`` with stem ``007`` or ``007_mask``. Images of any size
and mode (grey, RGB, RGBA, palette) are converted to ``channels`` and resized to S x S.

Items are dicts like MVTec AD's: ``image`` (C, S, S) in [-1, 1], ``label`` (0 normal,
1 defective) and, only when ``mask_dir`` is given, ``mask`` (S, S) in {0, 1} (all zero
for normal images).

>>> train = Folder("solar/good", abnormal_dir="solar/defect", split="train", image_size=128)  # doctest: +SKIP
>>> test = Folder("solar/good", abnormal_dir="solar/defect", split="test", image_size=128)    # doctest: +SKIP
>>> sorted(set(test.labels)), "mask" in test[0]                                           # doctest: +SKIP
([0, 1], False)
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from .common import IMAGE_SUFFIXES, ImageFiles, check_fit, held_out, to_model_range


class FolderLayoutError(ValueError):
    """A folder dataset that cannot be built: a missing or empty folder, a file that is
    not an image, a defective image without its mask."""


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, nested and symlinked sub-folders included (a folder reached
    twice, e.g. through a link that loops back, is read once); hidden files and folders skipped."""
    files, seen = [], set()
    for parent, folders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(parent)
        if real in seen:  # a symlink cycle, or a second link to the same folder
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))  # walked in a fixed order
        files += [Path(parent) / name for name in names if not name.startswith(".")]
    return sorted(path for path in files if path.is_file())


def find_images(folder: str | Path, role: str) -> list[Path]:
    """Every image under ``folder`` (nested and symlinked folders too, hidden files skipped), sorted."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FolderLayoutError(f"{role} {folder} is not a folder")
    files = files_under(folder)
    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise FolderLayoutError(f"{path} in {role} is not an image (expected one of "
                                    f"{', '.join(IMAGE_SUFFIXES)}); move it out of {folder}")
    if not files:
        raise FolderLayoutError(f"{role} {folder} holds no images")
    return files


def mask_stem(name: str) -> str:
    """``007_mask`` -> ``007`` (MVTec AD's naming), anything else unchanged."""
    return name[:-len("_mask")] if name.endswith("_mask") else name


def match_masks(images: list[Path], image_dir: Path, mask_dir: str | Path) -> list[Path]:
    """The mask of every defective image, matched by relative folder and stem, else by stem."""
    mask_dir = Path(mask_dir).expanduser()
    by_path: dict[tuple, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for mask in find_images(mask_dir, "mask_dir"):
        relative = mask.relative_to(mask_dir)
        stem = mask_stem(relative.stem)
        by_path.setdefault((*relative.parent.parts, stem), []).append(mask)
        by_stem.setdefault(stem, []).append(mask)
    masks, taken_by = [], {}
    for image in images:
        relative = image.relative_to(image_dir)
        found = by_path.get((*relative.parent.parts, image.stem))
        if not found:
            found = by_stem.get(image.stem, [])
        if len(found) == 1 and found[0] in taken_by:  # by path (000.png and 000.jpg) or by stem alone
            raise FolderLayoutError(
                f"defective images {taken_by[found[0]]} and {image} would both take mask {found[0]}: "
                f"every defective image needs its own mask, in a sub-folder of {mask_dir} named like its "
                f"image's (e.g. {mask_dir / relative.parent / found[0].name}) and with its image's stem")
        taken_by.update({mask: image for mask in found})
        if not found:
            raise FolderLayoutError(
                f"no mask for defective image {image}: looked for {mask_dir / relative.parent}/"
                f"{image.stem}.<png|jpg|...> or {image.stem}_mask.<png|...>, and for a mask with stem "
                f"{image.stem!r} anywhere in {mask_dir}")
        if len(found) > 1:
            raise FolderLayoutError(f"several masks match defective image {image}: "
                                    f"{', '.join(map(str, found))}")
        masks.append(found[0])
    return masks


def folder_contents(**folders) -> dict:
    """What each given folder holds: its number of images and a digest of their sorted relative
    paths. A run stores this for ``normal_dir`` (``daad_lib.run.with_folder_contents``): its test
    split is a seeded share of those sorted files, so one image added or removed reshuffles it and
    puts images the model trained on into the test set.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.png").write_bytes(b"x")
    >>> folder_contents(normal_dir=folder)["normal_dir"]["images"]
    1
    """
    contents = {}
    for role, folder in folders.items():
        if folder is None:
            continue
        root = Path(folder).expanduser()
        files = find_images(root, role)
        listing = "".join(path.relative_to(root).as_posix() + "\n" for path in files)
        contents[role] = {"images": len(files), "digest": hashlib.sha256(listing.encode()).hexdigest()[:16]}
    return contents


def check_unchanged(stored: dict, now: dict, why: str) -> None:
    """Refuse a folder whose images are not those its run recorded (see :func:`folder_contents`);
    ``why`` says what would go wrong."""
    for role, then in stored.items():
        current = now.get(role)
        if current is None or current == then:
            continue
        change = (f"{then['images']} images then, {current['images']} now" if current["images"] != then["images"]
                  else "as many images, under other names")
        raise FolderLayoutError(f"{role} holds other images than when this run was trained ({change}): {why}. "
                                f"Put the folder back as it was, or train a new run (--overwrite or another --out)")


def check_no_shared_files(**roles: list[Path]) -> None:
    """No file may play two roles through a link (separate folders whose files link to the same
    images): :func:`check_disjoint` compares the folders, this their resolved files."""
    seen: dict[Path, str] = {}
    for role, paths in roles.items():
        for path in paths:
            target = path.resolve()
            if target in seen and seen[target] != role:
                raise FolderLayoutError(f"{path} is the same file as a {seen[target].replace('_', ' ')} image "
                                        f"({target}, through a link): it would be {role.replace('_', ' ')} too")
            seen.setdefault(target, role)


NORMAL_NAMES = ("good", "ok", "normal")  # MVTec AD's test/good, and what other datasets call it


def check_no_normal_type(images: list[Path], abnormal_dir: Path) -> None:
    """Every image under ``abnormal_dir`` is counted as defective, so a sub-folder named like
    MVTec AD's ``test/good`` (normal test images) is refused rather than counted as a defect type."""
    named = sorted({path.relative_to(abnormal_dir).parts[0] for path in images
                    if len(path.relative_to(abnormal_dir).parts) > 1
                    and path.relative_to(abnormal_dir).parts[0].lower() in NORMAL_NAMES})
    if named:
        raise FolderLayoutError(
            f"abnormal_dir {abnormal_dir} has a sub-folder {abnormal_dir / named[0]}: every image under abnormal_dir "
            f"counts as defective, and a folder named {named[0]!r} usually holds normal images (MVTec AD's "
            f"test/good). Give it as --normal-test-dir and the defect folders without it, or, for MVTec AD's "
            f"layout, use --dataset mvtec")


def check_disjoint(**folders) -> None:
    """No folder may be, or lie inside, another: the same images would be normal and defective
    (or trained on and tested), and every AUROC would be meaningless."""
    given = {role: Path(folder).expanduser().resolve() for role, folder in folders.items() if folder is not None}
    roles = list(given)
    for i, first in enumerate(roles):
        for second in roles[i + 1:]:
            a, b = given[first], given[second]
            if a == b or a.is_relative_to(b) or b.is_relative_to(a):
                inner, outer = (first, second) if a.is_relative_to(b) else (second, first)
                relation = "is the same folder as" if a == b else "lies inside"
                raise FolderLayoutError(f"{inner} {given[inner]} {relation} {outer} {given[outer]}: the "
                                        f"folders must be separate, or the same images get two roles")


def check_arguments(split: str, channels: int, normal_split_ratio: float, abnormal_dir, mask_dir) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if not 0 <= normal_split_ratio < 1:
        raise ValueError(f"normal_split_ratio must be in [0, 1), got {normal_split_ratio}")
    if mask_dir is not None and abnormal_dir is None:
        raise FolderLayoutError("mask_dir needs abnormal_dir: masks belong to defective images")


class Folder(ImageFiles):
    """Normal and defective images from plain folders (see the module docstring).

    Args:
        normal_dir: normal images; used for training, minus the held-out share.
        abnormal_dir: defective images, all in the test split; optional.
        mask_dir: masks of the defective images; when given, every defective image needs one.
        normal_test_dir: normal test images; without it a share of ``normal_dir`` is held out.
        split: ``"train"`` (normal images only) or ``"test"``.
        image_size: images (and masks, by nearest neighbour) are resized to S x S.
        channels: 3 (RGB; grey images are repeated) or 1 (grey; colour images are converted).
        normal_split_ratio: share of ``normal_dir`` held out for testing without ``normal_test_dir``.
        seed: seed of that split.
        fit: ``"stretch"`` to S x S (the paper's), or ``"pad"`` (keep the aspect ratio; see
            :func:`~daad_lib.data.common.fit_box`).
    """

    def __init__(self, normal_dir: str | Path, abnormal_dir: str | Path | None = None,
                 mask_dir: str | Path | None = None, normal_test_dir: str | Path | None = None,
                 split: str = "train", image_size: int = 256, channels: int = 3,
                 normal_split_ratio: float = 0.2, seed: int = 0, fit: str = "stretch"):
        check_fit(fit)
        check_arguments(split, channels, normal_split_ratio, abnormal_dir, mask_dir)
        check_disjoint(normal_dir=normal_dir, abnormal_dir=abnormal_dir, mask_dir=mask_dir,
                       normal_test_dir=normal_test_dir)
        self.split, self.image_size, self.channels, self.fit = split, image_size, channels, fit
        self.has_masks = mask_dir is not None
        self.abnormal_root = Path(abnormal_dir).expanduser() if abnormal_dir is not None else None
        normal = find_images(normal_dir, "normal_dir")
        if normal_test_dir is not None:
            train_normal, test_normal = normal, find_images(normal_test_dir, "normal_test_dir")
        else:
            test = held_out(len(normal), normal_split_ratio, seed)
            train_normal = [path for path, t in zip(normal, test) if not t]
            test_normal = [path for path, t in zip(normal, test) if t]
        defective = self.defective(abnormal_dir, mask_dir) if split == "test" else []
        check_no_shared_files(train_normal=train_normal, test_normal=test_normal,
                              defective=[path for path, _, _ in defective])
        if split == "train":
            self.items = [(path, 0, None) for path in train_normal]
        else:
            self.items = [(path, 0, None) for path in test_normal] + defective
            if not self.items:
                raise FolderLayoutError("the test split is empty: give abnormal_dir, normal_test_dir "
                                        "or a normal_split_ratio above 0")
        self.transform = to_model_range(image_size, channels, fit)

    def defect_type(self, path: Path) -> str:
        """The first sub-folder of ``abnormal_dir`` a defective image sits in (``crack/007.png``
        is a "crack"); images directly in ``abnormal_dir`` are of type "defect"."""
        parts = path.relative_to(self.abnormal_root).parts
        return parts[0] if len(parts) > 1 else "defect"

    @staticmethod
    def defective(abnormal_dir, mask_dir) -> list[tuple[Path, int, Path | None]]:
        if abnormal_dir is None:
            return []
        abnormal_dir = Path(abnormal_dir).expanduser()
        images = find_images(abnormal_dir, "abnormal_dir")
        check_no_normal_type(images, abnormal_dir)
        masks = match_masks(images, abnormal_dir, mask_dir) if mask_dir is not None else [None] * len(images)
        return [(image, 1, mask) for image, mask in zip(images, masks)]
