"""Pieces every dataset shares: the data root, image loading, the [-1, 1] transform and
the dataset of listed image files."""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import transforms

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class CorruptImageError(ValueError):
    """An image file that PIL cannot decode."""


def default_data_dir() -> Path | None:
    """Where datasets live: ``$DAAD_DATA_DIR``, else ``../shared/data`` (next to the
    working directory or to this repository) when it exists, else None."""
    if os.environ.get("DAAD_DATA_DIR"):
        return Path(os.environ["DAAD_DATA_DIR"]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd() / ".." / "shared" / "data", repo / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The data root to use, or a clear error saying how to give one."""
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if path is None:
        raise FileNotFoundError("no data directory: pass --data-dir (or data_dir=...) or set "
                                "DAAD_DATA_DIR to the folder that holds the datasets")
    if path.is_file():
        raise FileNotFoundError(f"data directory {path} is a file, not a folder: give the folder that "
                                f"holds the datasets (or, for MVTec AD, a category folder)")
    if not path.is_dir():
        raise FileNotFoundError(f"data directory {path} does not exist")
    return path.resolve()


# How an image of any shape becomes the model's S x S input:
# * "stretch": resized to S x S, whatever its aspect ratio (the paper's; MVTec AD's images are square);
# * "pad": its longer side resized to S and the shorter one padded to S, centred, with the image's
#   own mean colour, so a long tile keeps its shape. Scores and pixel metrics then read only the
#   image's own pixels (the batch's ``valid`` region; results/texture/aspect_rule.md).
FITS = ("stretch", "pad")


def check_fit(fit: str) -> None:
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")


def fit_field(fit: str) -> dict:
    """A dataset spec's ``fit`` entry, stored only when it is not the paper's stretch: a spec without
    it (every checkpoint made before the option) means stretch, so those runs still resume."""
    check_fit(fit)
    return {} if fit == "stretch" else {"fit": fit}


def fit_box(width: int, height: int, image_size: int, fit: str) -> tuple[int, int, int, int]:
    """Where a ``width`` x ``height`` image lands on the S x S input: (left, top, w, h).

    The one owner of the input geometry: images, masks, the ``valid`` region and the maps that
    :func:`daad_lib.predict.predict` returns at an image's own size all follow it.

    >>> fit_box(200, 100, 64, "pad"), fit_box(200, 100, 64, "stretch")
    ((0, 16, 64, 32), (0, 0, 64, 64))
    """
    check_fit(fit)
    if fit == "stretch":
        return 0, 0, image_size, image_size
    scale = image_size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return (image_size - w) // 2, (image_size - h) // 2, w, h


def valid_region(box: tuple[int, int, int, int], image_size: int) -> torch.Tensor:
    """(S, S) bool: True on the image's own pixels of an input placed at ``box`` (:func:`fit_box`)."""
    left, top, w, h = box
    valid = torch.zeros(image_size, image_size, dtype=torch.bool)
    valid[top:top + h, left:left + w] = True
    return valid


class FitToSquare:
    """PIL image -> S x S PIL image by :func:`fit_box`: stretched, or resized and padded with the
    image's own mean colour (a picklable transform, so DataLoader workers can use it)."""

    def __init__(self, image_size: int, fit: str = "stretch"):
        check_fit(fit)
        self.image_size, self.fit = image_size, fit

    def __call__(self, image: Image.Image) -> Image.Image:
        left, top, w, h = fit_box(*image.size, self.image_size, self.fit)
        resized = transforms.functional.resize(image, [h, w], antialias=True)
        if self.fit == "stretch":
            return resized
        mean = tuple(round(v) for v in ImageStat.Stat(resized).mean)  # one value per band
        canvas = Image.new(resized.mode, (self.image_size, self.image_size), mean if len(mean) > 1 else mean[0])
        canvas.paste(resized, (left, top))
        return canvas


def to_model_range(image_size: int, channels: int, fit: str = "stretch") -> transforms.Compose:
    """PIL image -> (C, S, S) float tensor in [-1, 1] (Sec. 4.1), its shape fitted by ``fit``."""
    return transforms.Compose([
        FitToSquare(image_size, fit),
        transforms.ToTensor(),  # [0, 1]
        transforms.Normalize([0.5] * channels, [0.5] * channels),  # [-1, 1]
    ])


HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16-bit, 32-bit integer, float


def to_eight_bit(image: Image.Image, path: Path) -> Image.Image:
    """A 16-bit, 32-bit or float single-channel image as 8-bit grey, scaled by its type's range.

    PIL's ``convert("L")`` would clip such images (a 16-bit value 1000 becomes 255), so most of
    a 16-bit photo would turn white and a float image in [0, 1] black. Integer images are scaled
    from 0..65535 (16-bit data, also when stored as 32-bit); float images must already lie in
    [0, 1], anything else is refused by name rather than guessed.
    """
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        if values.min() < 0 or values.max() > 1:
            raise CorruptImageError(f"{path} is a floating-point image with values in [{values.min():.4g}, "
                                    f"{values.max():.4g}]: scale it to [0, 1] (or save it as 8/16-bit) first")
        scaled = values
    else:
        if values.min() < 0 or values.max() > 65535:
            raise CorruptImageError(f"{path} is a 32-bit integer image with values beyond 16 bits "
                                    f"([{values.min():.0f}, {values.max():.0f}]): convert it to 8 or 16 bits first")
        scaled = values / 65535
    return Image.fromarray((scaled * 255).round().astype(np.uint8))  # (H, W) uint8: mode "L"


@contextmanager
def decoded(path: Path, what: str = "image") -> Iterator[Image.Image]:
    """Open ``path`` as PIL shows it (turned by its EXIF orientation), for the ``with`` block.

    A file PIL cannot decode is a :class:`CorruptImageError` naming it, and so is one larger than
    PIL's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``): images and masks alike."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise CorruptImageError(f"{path} has more pixels than PIL's safety limit of {Image.MAX_IMAGE_PIXELS} "
                                f"(a decompression bomb, or a very large scan): downscale it first ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, CorruptImageError):
            raise
        raise CorruptImageError(f"cannot read {what} {path}: {error}") from error


def open_image(path: Path, mode: str) -> Image.Image:
    """Open an image as ``mode`` ("RGB" or "L"), as a photo viewer shows it: turned by its EXIF
    orientation, 16-bit and float images scaled by their range (:func:`to_eight_bit`); errors as
    :func:`decoded`'s."""
    with decoded(path) as image:
        if image.mode in HIGH_DEPTH_MODES:
            image = to_eight_bit(image, path)
        return image.convert(mode)


NARROW_PEAK = 4096  # a 16-bit image whose largest value is below 2**12 holds 12-bit (or narrower) data


def integer_peak(path: Path) -> float | None:
    """The largest value of a 16/32-bit integer image (what :func:`to_eight_bit` scales by 65535),
    or None for any other kind of image."""
    with decoded(path) as image:
        if image.mode not in HIGH_DEPTH_MODES or image.mode == "F":
            return None
        return float(np.asarray(image).max())


def image_size_of(path: Path) -> tuple[int, int]:
    """(width, height) as shown (after EXIF orientation), read from the header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise CorruptImageError(f"cannot read image {path}: {error}") from error
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def load_image(path: str | Path, image_size: int, channels: int, fit: str = "stretch") -> torch.Tensor:
    """One image file as a (C, S, S) tensor in [-1, 1]."""
    image = open_image(Path(path), "RGB" if channels == 3 else "L")
    return to_model_range(image_size, channels, fit)(image)


def mask_values(path: Path) -> np.ndarray:
    """A mask file's own values, (H, W): 16-bit and float masks unscaled (a 16-bit 0/1 mask stays
    0/1), and a transparent mask whose colour is flat read from its alpha channel."""
    with decoded(path, "mask") as image:
        if image.mode in HIGH_DEPTH_MODES:
            return np.asarray(image, dtype=np.float64)
        if "A" in image.getbands() or "transparency" in image.info:
            rgba = np.asarray(image.convert("RGBA"))  # (H, W, 4)
            colour, alpha = rgba[..., :3], rgba[..., 3]
            if colour.min() == colour.max() and alpha.min() != alpha.max():  # drawn in alpha alone
                return alpha.astype(np.float64)
        return np.asarray(image.convert("L"), dtype=np.float64)


def binary_mask(values: np.ndarray) -> np.ndarray:
    """Defect where a value is above half the mask's largest: 0/255 (MVTec AD) and 0/1 masks
    alike, and a soft (anti-aliased or JPEG) edge split at its middle. (H, W) bool."""
    return values > values.max() / 2 if values.max() > 0 else np.zeros(values.shape, dtype=bool)


def load_mask(path: str | Path, image_size: int, box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """A ground-truth mask as an (S, S) float tensor in {0, 1} (:func:`binary_mask` of
    :func:`mask_values`), resized by nearest neighbour into its image's ``box`` (:func:`fit_box`;
    default the whole S x S) and 0 outside it."""
    left, top, w, h = box or (0, 0, image_size, image_size)
    defect = Image.fromarray(binary_mask(mask_values(Path(path))).astype(np.uint8) * 255)  # mode "L"
    resized = transforms.functional.resize(defect, [h, w], interpolation=transforms.InterpolationMode.NEAREST)
    mask = torch.zeros(image_size, image_size)
    mask[top:top + h, left:left + w] = (transforms.functional.pil_to_tensor(resized)[0] > 0).float()  # (h, w)
    return mask  # (S, S)


def check_mask(mask_path: Path, image_path: Path) -> None:
    """Warn, naming the files, about a mask of a defective image that marks no pixel, or that holds
    more than two values (a label map: only values above half the largest count as defect)."""
    values = mask_values(mask_path)
    if not binary_mask(values).any():
        warnings.warn(f"mask {mask_path} of defective image {image_path} marks no defect pixel: its pixel "
                      f"metrics count the image as defect-free; check the mask's encoding", stacklevel=3)
        return
    levels = np.unique(values)
    if len(levels) > 2 and len(levels) <= 16:
        warnings.warn(f"mask {mask_path} holds {len(levels)} values ({', '.join(f'{v:g}' for v in levels[:6])}"
                      f"{' ...' if len(levels) > 6 else ''}), not two: only values above {values.max() / 2:g} "
                      f"count as defect; save it as a 0/255 (or 0/1) mask if it is a label map", stacklevel=3)


def held_out(count: int, ratio: float, seed: int) -> torch.Tensor:
    """Which of ``count`` sorted items go to the held-out share: a seeded random ``ratio`` of
    them (at least one when ``ratio > 0``, never all of them). (count,) bool."""
    num_test = min(max(round(count * ratio), 1 if ratio > 0 else 0), count - 1)
    chosen = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:num_test]
    test = torch.zeros(count, dtype=torch.bool)
    test[chosen] = True
    return test


class ImageFiles(Dataset):
    """A dataset of image files listed as ``items``: (image path, label, mask path or None).

    The one place that turns a listed file into an item: ``image`` (C, S, S) in [-1, 1],
    ``label`` (0 normal, 1 defective), when ``has_masks`` a ``mask`` (S, S) in {0, 1} (all
    zero for an image without a mask), and with ``fit="pad"`` the ``valid`` (S, S) bool region
    of the image's own pixels. MVTecAD and Folder only build the list.
    """

    items: list[tuple[Path, int, Path | None]]
    image_size: int
    channels: int
    transform: Callable
    has_masks: bool = True
    fit: str = "stretch"

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[int]:
        return [label for _, label, _ in self.items]

    @property
    def types(self) -> list[str | None]:
        """The defect type of every item (None for normal ones): the name of the folder it sits in
        under the defect folder (:meth:`defect_type`)."""
        return [self.defect_type(path) if label else None for path, label, _ in self.items]

    def defect_type(self, path: Path) -> str:
        return path.parent.name

    def check_readable(self) -> None:
        """Decode every image and mask once, before any training: a corrupt file is a
        :class:`CorruptImageError` naming it now, not after hours of work. A mask of another
        size than its image (it will be stretched to fit) is warned about by name."""
        mode = "RGB" if self.channels == 3 else "L"
        narrow = []  # 16-bit images whose values use a small part of the 16-bit range
        for path, _, mask_path in self.items:
            open_image(path, mode)
            peak = integer_peak(path)
            if peak is not None and peak < NARROW_PEAK:
                narrow.append((path, peak))
            if mask_path is not None:
                check_mask(mask_path, path)
                if image_size_of(mask_path) != image_size_of(path):
                    warnings.warn(f"mask {mask_path} is {'x'.join(map(str, image_size_of(mask_path)))} px but "
                                  f"its image {path} is {'x'.join(map(str, image_size_of(path)))} px: "
                                  f"the mask is resized to fit, check that it belongs to this image",
                                  stacklevel=2)

        if narrow:
            path, peak = narrow[0]
            warnings.warn(f"{len(narrow)} of {len(self.items)} images are 16-bit with values far below 65535 (e.g. "
                          f"{path}: at most {peak:.0f}); scaled by the 16-bit range they keep only about "
                          f"{max(peak, 1) * 255 / 65535:.0f} grey levels. If they are 10- or 12-bit camera data, "
                          f"rescale them to the full 16 bits (or to 8 bits) first", stacklevel=2)

    def __getitem__(self, index: int) -> dict:
        path, label, mask_path = self.items[index]
        picture = open_image(path, "RGB" if self.channels == 3 else "L")
        box = fit_box(*picture.size, self.image_size, self.fit)  # (left, top, w, h) on the S x S input
        item = {"image": self.transform(picture), "label": label}
        if self.fit != "stretch":
            item["valid"] = valid_region(box, self.image_size)
        if self.has_masks:
            item["mask"] = (load_mask(mask_path, self.image_size, box) if mask_path is not None
                            else torch.zeros(self.image_size, self.image_size))
        return item
