"""What the book's chapters share: finding the data, training once, reading committed
results, and checking the readers' exercises.

* Data: a reader without MVTec AD still gets a running chapter. The training cells
  use a small stand-in (scikit-learn digits) and the prose says so (:func:`data_sentence`).
* Training once: :func:`trained` is :func:`daad_lib.train.fit` with a cache, so chapters
  that need the same small model (and nbval, which runs every chapter again) load it
  instead of training it again.
* Results: :func:`committed` / :func:`committed_markdown` read ``results/<protocol>/``
  and say plainly when a file is not there yet.
* Exercises: :func:`check` (from :mod:`daad_lib.exercises`) runs a reader's function on
  hidden cases against the library's, refuses one that borrows the library's, and prints
  ``pass``, ``not yet`` or what differs.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .data import MVTecLayoutError, build_dataset, default_data_dir
from .exercises import check  # noqa: F401  (the chapters import it from here)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
CACHE = Path(os.environ.get("DAAD_BOOK_CACHE", ROOT / "_build" / "book_cache"))

HOW_TO_GET_MVTEC = (
    "MVTec AD was not found. Download it from https://www.mvtec.com/company/research/datasets/mvtec-ad "
    "(CC BY-NC-SA 4.0), unpack it, and set DATA_DIR (or the DAAD_DATA_DIR environment variable) to the "
    "folder that holds the categories. Until then this chapter trains on scikit-learn's digits as a "
    "stand-in and shows our committed results for bottle.")
STANDIN = "stand-in: scikit-learn digits, normal class 8"


def bottle_or_standin(data_dir: str | None, image_size: int, category: str = "bottle"):
    """(train set, test set, description): MVTec AD ``category`` if found, else digits (class 8)."""
    root = Path(data_dir) if data_dir else default_data_dir()
    if root is not None:
        try:
            train = build_dataset("mvtec", "train", image_size, root, category)
            test = build_dataset("mvtec", "test", image_size, root, category)
            return train, test, f"MVTec AD {category}"
        except (MVTecLayoutError, FileNotFoundError):
            pass
    print(HOW_TO_GET_MVTEC)
    train = build_dataset("digits", "train", image_size, normal_class=8)
    test = build_dataset("digits", "test", image_size, normal_class=8)
    return train, test, STANDIN


def is_standin(source: str) -> bool:
    return source.startswith("stand-in")


def data_sentence(source: str, train_set, test_set, image_size: int) -> str:
    """One Markdown sentence saying which data this run used (glued into the prose)."""
    anomalous = sum(test_set.labels)
    counts = (f"{len(train_set)} normal training images and {len(test_set)} test images "
              f"({anomalous} anomalous), resized to {image_size}×{image_size} px")
    if is_standin(source):
        return (f"This run used the **stand-in** data, scikit-learn's handwritten digits with 8 as the "
                f"normal class and every other digit as an anomaly: {counts}. MVTec AD was not found; "
                f"with it, the same cells train on *bottle* photographs and the pictures show bottles.")
    return f"This run used **{source}**: {counts}."


MODEL_CODE = ("memory.py", "networks.py", "config.py", "models.py", "losses.py")


def library_fingerprint() -> str:
    """A hash of the code that defines a model and its losses (``MODEL_CODE``): a cached model
    is reused only while that code is unchanged. The recipe's parameters are part of the key
    (:func:`cache_key`), and book/build.sh starts from an empty cache, so a built book never
    shows a model trained by older code."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for name in MODEL_CODE:
        digest.update(name.encode())
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_key(variant: str, train_config, source: str, num_images: int, config: dict) -> str:
    from .config import make_config

    described = {"variant": variant, "model": make_config(variant, **config).to_dict(),
                 "train": asdict(train_config), "data": source, "num_images": num_images,
                 "library": library_fingerprint()}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


SUMS = "SHA256SUMS"  # an instructor's digests of a hand-out, beside its files: `sha256sum *.pt > SHA256SUMS`


def handout_digests(pretrained: str) -> dict[str, str] | None:
    """{file name: sha256} from the ``SHA256SUMS`` file of an instructor's folder or URL prefix
    (``sha256sum``'s format, ``<hex>  <name>`` a line), or None if the hand-out has none."""
    from .checkpoint import CheckpointError
    from .pretrained import fetch

    if "://" not in pretrained:
        path = Path(pretrained).expanduser() / SUMS
        if not path.is_file():
            return None
        text = path.read_text()
    else:
        with tempfile.TemporaryDirectory() as fresh:  # downloaded each time: never another hand-out's cached list
            try:
                text = fetch(pretrained.rstrip("/") + "/" + SUMS, cache=fresh).read_text()
            except CheckpointError:
                return None
    digests = {}
    for line in filter(str.strip, text.splitlines()):
        digest, _, name = line.strip().partition(" ")
        name = Path(name.strip().lstrip("*")).name
        if len(digest) != 64 or not set(digest.lower()) <= set("0123456789abcdef") or not name:
            raise CheckpointError(f"{pretrained}/{SUMS}: {line!r} is not '<sha256>  <file name>'")
        digests[name] = digest.lower()
    return digests


def pretrained_file(pretrained: str, name: str) -> Path | None:
    """``name`` from an instructor's folder or URL prefix (https:// or file://), or None if it
    has no such file. A URL's file is downloaded once into the cache of :mod:`daad_lib.pretrained`.
    Where the hand-out has a ``SHA256SUMS`` file, only the files it lists are used, and each must
    have its listed digest (:func:`daad_lib.pretrained.fetch` checks it) or a
    :class:`~daad_lib.pretrained.DigestError` names the file and both digests."""
    from .checkpoint import CheckpointError
    from .pretrained import DigestError, fetch

    digests = handout_digests(pretrained)
    if digests is not None and name not in digests:
        print(f"{pretrained}/{SUMS} does not list {name}")
        return None
    sha256 = digests[name] if digests is not None else None
    try:
        if "://" not in pretrained:
            path = Path(pretrained).expanduser() / name
            file = fetch(path, sha256) if path.is_file() else None
        else:
            file = fetch(pretrained.rstrip("/") + "/" + name, sha256)
        if file is not None:
            print(f"{name}: its sha256 matches the hand-out's {SUMS}" if sha256 else
                  f"{name}: sha256 not checked (the hand-out has no {SUMS})")
        return file
    except DigestError as error:
        raise DigestError(f"{name} from {pretrained}: {error}. The digest is the one the hand-out's {SUMS} "
                          f"lists: this is not the file the instructor handed out; fetch it again") from None
    except (CheckpointError, OSError) as error:  # urllib's HTTPError is an OSError
        print(f"{pretrained}: {error}")
        return None


def trained(variant: str, train_set, train_config, source: str, pretrained: str | None = None, **config):
    """:func:`daad_lib.train.fit` (same arguments, without ``progress``), cached on disk.

    The cache key holds the full model config, the training recipe, the data description
    and :func:`library_fingerprint`; a hit loads the weights (weights-only) instead of
    training again. Prints which of the two happened. The cache is ``_build/book_cache``
    (or ``$DAAD_BOOK_CACHE``); delete it to retrain everything.

    ``pretrained`` (a chapter's ``PRETRAINED`` parameter): a folder, or an https:// or file://
    URL prefix, holding such cache files, e.g. an instructor's cache from a long run (see
    book/running.md). The file of this model, under the same key, is loaded from there
    instead of training; if it is missing (other parameters, another library version) the
    chapter says so and trains. A ``SHA256SUMS`` file in the hand-out makes each file's digest
    checked before it is loaded (:func:`pretrained_file`).
    """
    from .checkpoint import load_detector, save_checkpoint
    from .train import fit

    path = CACHE / f"{variant}-{cache_key(variant, train_config, source, len(train_set), config)}.pt"
    if pretrained:
        handed_out = pretrained_file(pretrained, path.name)
        if handed_out is not None:
            detector, _ = load_detector(handed_out, variant)
            print(f"{variant}: loaded the pretrained model {path.name} from {pretrained}")
            return detector
        print(f"{variant}: {pretrained} has no {path.name} (it was made with other parameters or "
              f"another version of daad_lib: use the parameters it was made with); training instead")
    if path.exists():
        detector, _ = load_detector(path, variant)
        print(f"{variant}: loaded the model trained earlier in this build ({path.name})")
        return detector
    began = time.perf_counter()
    detector = fit(variant, train_set, train_config, progress=False, **config)
    seconds = time.perf_counter() - began
    save_checkpoint(path, {"model_config": detector.config.to_dict(), "train_config": asdict(train_config),
                           "dataset": {"description": source}, "seconds": seconds,
                           "epoch": train_config.epochs, "history": [],
                           "generator": detector.generator.state_dict(),
                           "discriminator": (detector.discriminator.state_dict()
                                             if detector.discriminator is not None else None)})
    print(f"{variant}: trained {train_config.epochs} epochs in {seconds:.0f} s")
    return detector


def committed(name: str, protocol: str = "cpu") -> dict | None:
    """A committed results file ``results/<protocol>/<name>.json``, or None if it does not exist."""
    path = RESULTS / protocol / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def committed_markdown(name: str, protocol: str = "cpu") -> str:
    """The Markdown table written beside a results file, or a plain statement that it is missing."""
    path = RESULTS / protocol / f"{name}.md"
    if path.exists():
        return path.read_text()
    return f"*No committed results for `{name}` ({protocol} protocol) yet.*\n"


def committed_figure(name: str, protocol: str = "cpu") -> Path | None:
    """The plot beside a results file, ``results/<protocol>/<name>.png``, or None."""
    path = RESULTS / protocol / f"{name}.png"
    return path if path.exists() else None


def budget_sentence(grid: dict | None, image_size: int, epochs: int, this_effect: float, effect: str,
                    data_name: str, arms: dict[str, str], when_none_shows: str = "") -> str:
    """What a chapter's own run shows of its effect, read against its committed budget grid
    (``python -m experiments.book_defaults``; the rules are in ``results/book/``): the grid's
    mean ± sd of ``effect`` (e.g. "DAAD − AE") over its seeds at this budget, the means of its
    ``arms`` (report key -> name, e.g. {"ae": "AE"}), this run's value and, where the grid shows
    no effect here, the budget at which it first does (or ``when_none_shows``)."""
    if not grid or not grid.get("by_budget"):
        return f"No budget grid over seeds is committed for this chapter yet; this run's {effect} is {this_effect:+.3f}, one seed."
    at = grid["by_budget"].get(str(epochs)) if grid["image_size"] == image_size else None
    if at is None:
        return (f"This run ({image_size} px, {epochs} epochs) lies outside the committed budget grid; "
                f"its {effect} is {this_effect:+.3f}, one seed.")
    budgets = sorted(int(e) for e in grid["by_budget"])
    first = next((e for e in budgets if grid["by_budget"][str(e)]["shows"]), None)
    means = "; ".join(f"{name} {at[key + '_mean']:.3f}" for key, name in arms.items())
    seeds = ", ".join(map(str, grid["seeds"]))
    sentence = (f"On {data_name} at {image_size} px and {epochs} epochs, {effect} averages "
                f"{at['mean']:+.3f} ± {at['sd']:.3f} over seeds {seeds} ({means}), and this run's is "
                f"{this_effect:+.3f}. ")
    if at["shows"]:
        return sentence + "That lead is larger than its spread over the seeds."
    if first is None:
        last = grid["by_budget"][str(budgets[-1])]
        return (sentence + ("It is negative at this budget" if at["mean"] < 0 else "That is no lead beyond the seed spread")
                + f", and no budget of the grid up to {budgets[-1]} epochs shows a lead beyond the spread "
                f"(at {budgets[-1]} epochs: {last['mean']:+.3f} ± {last['sd']:.3f}). " + when_none_shows).strip()
    shown = grid["by_budget"][str(first)]
    return (sentence + f"That is no lead beyond the seed spread; the grid first shows one at {first} epochs "
            f"({shown['mean']:+.3f} ± {shown['sd']:.3f}): set `EPOCHS = {first}` to see it.")
