"""Checkpoints: everything needed to resume training exactly or to evaluate later.

This module is the one owner of the format. A checkpoint is a plain dict of tensors,
numbers, strings, lists and dicts, so it loads with ``torch.load(weights_only=True)``
(no arbitrary code runs on load). It is written to a uniquely named temporary file, flushed
to disk and renamed (:func:`daad_lib.rundir.atomic_write`), so a crash never leaves half a
file and two writers never share a temporary file. Keys:

* ``format``, ``version``: markers that say it is ours;
* ``model_config``, ``train_config``, ``dataset``: what was trained, how, on which data;
* ``epoch``, ``history``: finished epochs and their per-epoch log;
* ``generator``, ``discriminator``, ``opt_g``, ``opt_d``: weights and optimiser states;
* ``score_stats`` (added by ``daad train``): min and max of R(x), L(x) on the training
  images, the fixed scale on which ``daad score`` computes A(x) (Eq. 7) for single images;
* ``decision`` (added by ``daad eval``): the threshold on that A(x) and how it was chosen.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .config import ModelConfig
from .models import Detector
from .rundir import atomic_write

FORMAT = "daad-book-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a daad-book checkpoint, or one of another model."""


def training_state(detector: Detector, train_config: dict, dataset_spec: dict | None, history: list[dict],
                   opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer | None) -> dict:
    """The checkpoint of a training run after ``history[-1]["epoch"]`` epochs."""
    return {"model_config": detector.config.to_dict(), "train_config": train_config,
            "dataset": dataset_spec or {}, "epoch": history[-1]["epoch"] if history else 0,
            "history": history, "generator": detector.generator.state_dict(),
            "discriminator": detector.discriminator.state_dict() if detector.discriminator is not None else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict() if opt_d is not None else None}


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Atomically write ``state`` (plus format markers) to ``path``."""
    return atomic_write(path, lambda tmp: torch.save({**state, "format": FORMAT, "version": VERSION}, tmp))


def load_checkpoint(path: str | Path, variant: str | None = None) -> dict:
    """Load a checkpoint safely (weights only); with ``variant``, insist it holds that model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # Python objects a weights-only load refuses
        raise CheckpointError(  # "from None": torch's advice to retry unsafely is not repeated
            f"{path} is not a daad-book checkpoint: it holds Python objects (such as a pickled model "
            f"or class) that a safe, weights-only load refuses. Do not load it with "
            f"weights_only=False: unpickling runs any code the file contains.") from None
    except Exception as error:  # garbage can fail anywhere inside the unpickler
        raise CheckpointError(f"{path} is not a readable daad-book checkpoint "
                              f"(torch.load failed with {type(error).__name__})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a daad-book checkpoint (no '{FORMAT}' marker)")
    check_fields(state, path)
    held = state["model_config"].get("variant")
    if variant is not None and held != variant:
        raise CheckpointError(f"checkpoint {path} holds model {held!r}, not {variant!r}")
    return state


REQUIRED_FIELDS = {"model_config": dict, "epoch": int, "history": list, "generator": dict}


def check_fields(state: dict, path: Path) -> None:
    """The keys every checkpoint has, with their types: a damaged or edited file fails here,
    with its name, rather than deep inside model building."""
    for key, kind in REQUIRED_FIELDS.items():
        if key not in state:
            raise CheckpointError(f"{path} is damaged: it has no {key!r}")
        if not isinstance(state[key], kind):
            raise CheckpointError(f"{path} is damaged: {key!r} is a {type(state[key]).__name__}, "
                                  f"not a {kind.__name__}")


def differences(stored: dict, given: dict) -> list[str]:
    """``"key: stored -> given"`` for every key whose values differ (for error messages)."""
    return [f"{key}: {stored.get(key)!r} -> {given.get(key)!r}"
            for key in sorted(set(stored) | set(given)) if stored.get(key) != given.get(key)]


def update_checkpoint(path: str | Path, **fields) -> dict:
    """Add or replace top-level ``fields`` (e.g. ``score_stats``, ``decision``) in place."""
    state = load_checkpoint(path)
    state.update(fields)
    save_checkpoint(path, state)
    return state


def restore_detector(state: dict, detector: Detector | None = None) -> Detector:
    """Build the checkpoint's model (or check ``detector`` matches it) and load its weights."""
    try:
        config = ModelConfig.from_dict(state["model_config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"the checkpoint's model config is invalid: {error}") from None
    if detector is None:
        detector = Detector(config)
    elif detector.config != config:
        raise CheckpointError(f"the checkpoint holds another {config.variant!r} model than the one being "
                              f"loaded into ({'; '.join(differences(config.to_dict(), detector.config.to_dict()))})")
    try:
        detector.generator.load_state_dict(state["generator"])
        if detector.discriminator is not None:
            detector.discriminator.load_state_dict(state["discriminator"] or {})
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"the checkpoint's weights do not fit its model config ({first})") from None
    return detector


def restore_training(state: dict, detector: Detector, opt_g: torch.optim.Optimizer,
                     opt_d: torch.optim.Optimizer | None) -> tuple[list[dict], int]:
    """Load weights and optimiser states into a run; returns its history and finished epochs."""
    restore_detector(state, detector)
    opt_g.load_state_dict(state["opt_g"])
    if opt_d is not None:
        opt_d.load_state_dict(state["opt_d"])
    return state["history"], state["epoch"]


def load_detector(path: str | Path, variant: str | None = None) -> tuple[Detector, dict]:
    """The trained detector stored at ``path`` (in eval mode) and the whole checkpoint."""
    state = load_checkpoint(path, variant)
    detector = restore_detector(state)
    detector.data = state.get("dataset") or {}  # how its inputs were made: predict follows it
    return detector.eval(), state
