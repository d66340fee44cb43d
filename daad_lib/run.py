"""One run, one owner: seed, build the data, build the model, train, store the normal score
range and a decision threshold, write the record.

``daad train``, the experiments and the book call :func:`run` (the record) or :func:`train_run`
(the record and the trained detector with its test split). A run folder holds:

* ``checkpoint.pt``: weights, optimiser states, the recipe and the dataset spec
  (:mod:`daad_lib.checkpoint`), plus ``score_stats`` (min and max of R(x), L(x) on the
  training images: the scale of A(x) for single images) and ``decision`` (the label-free
  threshold of :func:`daad_lib.evaluate.normal_threshold`);
* ``log.jsonl``: one line per epoch; ``train.json``: the record (command, commit, hardware,
  wall time, history); later ``eval.json`` and ``decision.json`` from ``daad eval``.

The threshold comes from normal images the model never trained on: a seeded
``validation_ratio`` share of the normal training images is held out of training for it.

>>> import tempfile
>>> spec = {"name": "digits", "image_size": 32, "normal_class": 8, "validation_ratio": 0.1}
>>> info = run(make_config("ae", image_size=32, channels=1), spec, TrainConfig(epochs=1),
...            tempfile.mkdtemp() + "/run", progress=False)
>>> info["decision"]["num_images"], round(info["decision"]["quantile"], 2)
(9, 0.99)
"""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from . import distributed, rundir
from .checkpoint import update_checkpoint
from .config import ModelConfig, make_config  # noqa: F401 (make_config: the doctest)
from .data import build_dataset
from .data.cache import in_memory
from .data.common import held_out
from .data.folder import FolderLayoutError, check_unchanged, folder_contents
from .evaluate import normal_range, normal_threshold, score_dataset
from .models import Detector
from .provenance import run_info
from .checkpoint import load_checkpoint
from .train import CHECKPOINT_NAME, TrainConfig, check_run, train_new, with_data_flips

VALIDATION_RATIO = 0.1  # share of the normal training images held out for the threshold
THRESHOLD_QUANTILE = 0.99  # the threshold: this quantile of A(x) on those held-out images
FOLDER_DIRS = ("normal_dir", "abnormal_dir", "mask_dir", "normal_test_dir")


RESUME_WHY = "the resumed epochs would train on other images than the finished ones"
TEST_SPLIT_WHY = ("its test split, a seeded share of the sorted files, would now hold images the model trained on, "
                  "and the test metrics would count them")


def build_split(spec: dict, split: str, data_dir: str | None = None, check_contents: bool = True) -> Dataset:
    """The train or test split a dataset spec describes (the same split every time; the
    validation share is taken out of "train" by :func:`split_off_validation`). A folder run's
    ``normal_dir`` must still hold the images it recorded when its test share comes from it
    (runs made before the record existed are not checked)."""
    if spec["name"] == "folder":
        if check_contents and spec.get("contents") and not spec.get("normal_test_dir"):
            check_unchanged(spec["contents"], folder_contents(normal_dir=spec["normal_dir"]), TEST_SPLIT_WHY)
        return build_dataset("folder", split, spec["image_size"], channels=spec["channels"],
                             normal_split_ratio=spec["normal_split_ratio"], seed=spec["split_seed"],
                             fit=spec.get("fit", "stretch"), **{name: spec[name] for name in FOLDER_DIRS})
    return build_dataset(spec["name"], split, spec["image_size"], data_dir or spec.get("data_dir"),
                         spec.get("category"), spec.get("normal_class") or 0, spec.get("preprocessing", "range"),
                         spec.get("fit", "stretch"))


def with_folder_contents(spec: dict) -> dict:
    """A folder spec with what its folders hold now (:func:`daad_lib.data.folder.folder_contents`),
    so that ``daad eval`` and ``--resume`` can refuse a folder whose images changed since."""
    if spec["name"] != "folder":
        return spec
    return {**spec, "contents": folder_contents(normal_dir=spec["normal_dir"])}


def check_same_images(out: Path, spec: dict) -> None:
    """Resuming a folder run: its ``normal_dir`` must hold the images the finished epochs had."""
    stored = load_checkpoint(out / CHECKPOINT_NAME).get("dataset") or {}
    if spec.get("contents") and stored.get("contents"):
        check_unchanged(stored["contents"], spec["contents"], RESUME_WHY)


def check_out_outside_data(out: Path, spec: dict) -> None:
    """A run folder inside a data folder would be read as images by the next eval or resume."""
    for name in FOLDER_DIRS if spec["name"] == "folder" else ():
        folder = Path(spec[name]).expanduser().resolve() if spec.get(name) else None
        inside = folder is not None and out.expanduser().resolve().is_relative_to(folder)
        if inside and not any(part.startswith(".") for part in out.expanduser().resolve().relative_to(folder).parts):
            raise FolderLayoutError(f"--out {out} lies inside {name} {spec[name]}: its checkpoint would be taken "
                                    f"for an image of that folder; give an --out outside the data folders")


def check_evaluable(test_set: Dataset, tc: TrainConfig) -> None:
    """``eval_every`` needs a test set with normal and anomalous images: say so before training."""
    labels = getattr(test_set, "labels", None) if tc.eval_every else None  # a list, or a tensor (InMemory)
    labels = {int(label) for label in labels} if labels is not None else set()
    if labels and len(labels) < 2:
        kind = "normal" if labels == {0} else "anomalous"
        raise ValueError(f"eval_every (--eval-every {tc.eval_every}) computes the test AUROC, but the test set "
                         f"holds only {kind} images: give defective images (--abnormal-dir) and normal test "
                         f"images (a --normal-split-ratio above 0 or --normal-test-dir), or drop --eval-every")


def split_off_validation(dataset: Dataset, ratio: float, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """(training images, held-out normal images), a seeded ``ratio`` share held out; the
    same split every time (so a resumed run trains on the same images)."""
    if not 0 <= ratio < 1:
        raise ValueError(f"validation_ratio must lie in [0, 1), got {ratio}")
    if ratio == 0:
        return dataset, None
    held = held_out(len(dataset), ratio, seed)  # (n,) bool
    if not held.any():
        raise ValueError(f"{len(dataset)} training image(s) are too few to hold out a share for the "
                         f"threshold: pass validation_ratio 0 (--validation-ratio 0) and a --threshold")
    indices = torch.arange(len(dataset))
    return Subset(dataset, indices[~held].tolist()), Subset(dataset, indices[held].tolist())


def check_readable(*datasets: Dataset) -> None:
    """Decode every file of every split before the first epoch (image-file datasets)."""
    for dataset in datasets:
        dataset = dataset.dataset if isinstance(dataset, Subset) else dataset
        if hasattr(dataset, "check_readable"):
            dataset.check_readable()


def with_actual_category(spec: dict, dataset: Dataset) -> dict:
    """The spec with the MVTec AD category that was really read (a category folder given as
    the data directory names itself), so the record never names another one."""
    category = getattr(dataset, "category", None)
    return {**spec, "category": category} if spec["name"] == "mvtec" and category else spec


@dataclass
class Trained:
    """A finished run in memory: the trained detector (in eval mode), the test split it was
    built from the spec, and the record written to ``train.json``."""

    detector: Detector
    test_set: Dataset
    info: dict


def has_checkpoint(out: str | Path) -> bool:
    """Whether ``out`` holds a run to resume (the experiments resume whatever they find)."""
    return (Path(out) / CHECKPOINT_NAME).is_file()


def run(config: ModelConfig, spec: dict, tc: TrainConfig, out: str | Path, resume: bool = False,
        overwrite: bool = False, device: str = "auto", progress: bool = True,
        quantile: float = THRESHOLD_QUANTILE) -> dict:
    """Train the model ``config`` on the dataset ``spec`` into the run folder ``out`` and record
    it; returns the contents of ``train.json`` (:func:`train_run` also returns the detector)."""
    return train_run(config, spec, tc, out, resume, overwrite, device, progress, quantile).info


def train_run(config: ModelConfig, spec: dict, tc: TrainConfig, out: str | Path, resume: bool = False,
              overwrite: bool = False, device: str = "auto", progress: bool = True,
              quantile: float = THRESHOLD_QUANTILE) -> Trained:
    """The one run pipeline: seed, build the data, build the model, train, store the normal
    score range (and the threshold), write ``train.json``. Under torchrun every rank calls this;
    rank 0 alone claims and writes the folder."""
    out = Path(out)
    main = distributed.world().main
    check_out_outside_data(out, spec)
    with rundir.claim(out) if main else nullcontext():
        if main:
            rundir.prepare(out, resume, overwrite, clear=False)  # the checks; the old run stays until the data is read
        spec = with_folder_contents(spec)
        if resume:
            check_same_images(out, spec)  # before decoding every image
        full_train = build_split(spec, "train", check_contents=False)
        test_set = build_split(spec, "test", check_contents=False)
        check_readable(full_train, test_set)  # a bad file fails now, not after the last epoch
        check_evaluable(test_set, tc)
        spec = with_actual_category(spec, full_train)
        train_set, validation = split_off_validation(full_train, spec.get("validation_ratio", 0.0))
        check_run(tc, len(train_set), distributed.world().size, test_set if tc.eval_every else None, out)
        if main:
            rundir.prepare(out, resume, overwrite)  # --overwrite removes the old run only now
        if tc.num_workers == 0:
            train_set = in_memory(train_set)  # decoded once: for training and the score range
        tc = with_data_flips(tc, train_set)  # train.json records the flips the epochs had
        began = time.perf_counter()
        detector, history = train_new(config, train_set, tc, out_dir=out, resume=resume, device=device,
                                      dataset_spec=spec, progress=progress and main,
                                      eval_set=test_set if tc.eval_every else None)
        info = {**run_info(), "model_config": config.to_dict(), "dataset": spec, "train_config": asdict(tc),
                "processes": distributed.world().size, "wall_time_s": time.perf_counter() - began,
                "num_train_images": len(train_set), "history": history}
        if main:
            info["decision"] = record_range(detector, train_set, validation, out, device, quantile)
            rundir.atomic_write_text(out / "train.json", json.dumps(info, indent=2) + "\n")
    return Trained(detector.eval(), test_set, info)


def record_range(detector: Detector, train_set: Dataset, validation: Dataset | None, out: Path,
                 device: str, quantile: float) -> dict | None:
    """Store the normal score range (and the threshold from the held-out normal images, when
    some were held out) in the checkpoint; returns the threshold's record, or None."""
    detector.eval()
    stats = normal_range(detector, train_set, device=device)
    decision = None
    if validation is not None:
        held_scores = score_dataset(detector, validation, device=device)
        decision = normal_threshold(held_scores, detector.config.gamma, stats, quantile)
    update_checkpoint(out / CHECKPOINT_NAME, score_stats=stats, decision=decision)
    return decision
