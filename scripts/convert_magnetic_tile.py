"""Convert the public magnetic-tile defect repository into the MVTec AD layout the book reads.

    git clone https://github.com/abin1991/Magnetic-tile-defect-datasets. mt-src   # 'abin24/...' in older links
    python scripts/convert_magnetic_tile.py mt-src data
    DAAD_DATA_DIR=data jupyter lab notebooks/08_own_data.ipynb       # chapter 8 on real tiles

SRC is the repository's checkout (Huang et al., "Surface defect saliency of magnetic tile",
The Visual Computer 2020): six folders ``MT_Blowhole``, ``MT_Break``, ``MT_Crack``,
``MT_Fray``, ``MT_Uneven`` and ``MT_Free``, each with ``Imgs/`` holding ``<name>.jpg``
images and ``<name>.png`` masks. DST receives ``DST/magnetic_tile/`` in the MVTec AD layout::

    magnetic_tile/train/good/<name>.jpg                 80 % of MT_Free
    magnetic_tile/test/good/<name>.jpg                  the other 20 % of MT_Free
    magnetic_tile/test/<defect>/<name>.jpg              every image of MT_<Defect> (lower case)
    magnetic_tile/ground_truth/<defect>/<name>_mask.png its mask, byte for byte

The split is the one of the project's shared copy (``../shared/data/magnetic_tile``, see its
README): MT_Free's image names sorted, shuffled with ``random.Random(0)``, the first
``round(0.2 * n)`` to ``test/good``, the rest to ``train/good``. Checked against the shared
copy: the rule gives exactly its 190 test and 762 training images of 952. Files are copied,
not re-encoded, so a conversion of the same repository reproduces the shared copy.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

from daad_lib.data import MAGNETIC_TILE

DEFECTS = ("Blowhole", "Break", "Crack", "Fray", "Uneven")
NORMAL = "Free"
TEST_SHARE = 0.2
SEED = 0
CATEGORY = MAGNETIC_TILE  # the folder the library reads (daad_lib.data.MAGNETIC_TILE)


class SourceLayoutError(ValueError):
    """SRC is not a checkout of the magnetic-tile repository."""


def source_images(src: Path, kind: str) -> list[Path]:
    """The ``.jpg`` images of ``src/MT_<kind>/Imgs``, sorted by name."""
    imgs = src / f"MT_{kind}" / "Imgs"
    if not imgs.is_dir():
        raise SourceLayoutError(
            f"{imgs} is missing: SRC must be a checkout of the magnetic-tile repository "
            f"(github.com/abin1991/Magnetic-tile-defect-datasets.), with folders "
            f"{', '.join('MT_' + k for k in DEFECTS + (NORMAL,))}, each holding Imgs/")
    images = sorted(p for p in imgs.iterdir() if p.suffix.lower() == ".jpg")
    if not images:
        raise SourceLayoutError(f"{imgs} holds no .jpg images")
    return images


def split_normal(names: list[str], test_share: float = TEST_SHARE, seed: int = SEED) -> tuple[list[str], list[str]]:
    """(train, test) names of the defect-free images: sorted, shuffled by ``random.Random(seed)``,
    the first ``round(test_share * n)`` to test.

    >>> split_normal([f"{i}.jpg" for i in range(10)])
    (['0.jpg', '1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg', '9.jpg'], ['7.jpg', '8.jpg'])
    """
    order = sorted(names)
    random.Random(seed).shuffle(order)
    n_test = round(test_share * len(order))
    return sorted(order[n_test:]), order[:n_test]


def plan(src: Path) -> list[tuple[Path, Path]]:
    """(source, destination relative to the category folder) for every file; checks SRC first."""
    if not src.is_dir():
        raise SourceLayoutError(f"{src} is not a folder (expected the magnetic-tile repository's checkout)")
    copies: list[tuple[Path, Path]] = []
    free = source_images(src, NORMAL)
    train, test = split_normal([p.name for p in free])
    by_name = {p.name: p for p in free}
    copies += [(by_name[name], Path("train/good") / name) for name in train]
    copies += [(by_name[name], Path("test/good") / name) for name in sorted(test)]
    for kind in DEFECTS:
        defect = kind.lower()
        for image in source_images(src, kind):
            mask = image.with_suffix(".png")
            if not mask.is_file():
                raise SourceLayoutError(f"{image} has no mask {mask.name} beside it")
            copies.append((image, Path("test") / defect / image.name))
            copies.append((mask, Path("ground_truth") / defect / f"{image.stem}_mask.png"))
    return copies


def convert(src: str | Path, dst: str | Path, overwrite: bool = False) -> Path:
    """Write ``dst/magnetic_tile`` from the repository checkout ``src``; returns the category folder.

    Refuses an existing ``dst/magnetic_tile`` unless ``overwrite`` (which removes it first).
    Everything is checked before anything is written, and the files go to a temporary folder
    renamed into place at the end, so a failed conversion leaves no half-written category.
    """
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    copies = plan(src)
    target = dst / CATEGORY
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it")
    dst.mkdir(parents=True, exist_ok=True)
    partial = dst / f".{CATEGORY}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for source, relative in copies:
            out = partial / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out)
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def summary(folder: Path) -> str:
    counts = {str(d.relative_to(folder)): sum(1 for _ in d.iterdir())
              for d in sorted(folder.glob("*/*")) if d.is_dir()}
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="checkout of the magnetic-tile repository (holds MT_Blowhole/, ..., MT_Free/)")
    parser.add_argument("dst", help="data folder; receives DST/magnetic_tile/ (use it as DAAD_DATA_DIR)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DST/magnetic_tile")
    args = parser.parse_args(argv)
    try:
        folder = convert(args.src, args.dst, overwrite=args.overwrite)
    except (SourceLayoutError, FileExistsError) as error:
        print(f"convert_magnetic_tile: {error}", file=sys.stderr)
        return 2
    print(f"{folder}: {summary(folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
