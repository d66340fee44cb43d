"""One run pipeline: the experiments and the book train through ``daad_lib.run.train_run``
(seed, data, model, train, normal score range, record) instead of writing that sequence again."""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from daad_lib import run as pipeline
from daad_lib.config import make_config
from daad_lib.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]


class Called(Exception):
    """Raised by the stand-in pipeline: the caller reached it."""


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Replace the run pipeline by a stand-in that records its arguments and stops the caller."""
    seen = []

    def stand_in(config, spec, tc, out, resume=False, *args, **kwargs):
        seen.append({"config": config, "spec": spec, "tc": tc, "out": Path(out), "resume": resume})
        raise Called

    monkeypatch.setattr(pipeline, "train_run", stand_in)
    return seen


@pytest.fixture
def experiments_root(monkeypatch, tmp_path):
    """The experiments write their results and checkpoints under tmp_path, not the repository."""
    from experiments import common

    monkeypatch.setattr(common, "ROOT", tmp_path)
    return tmp_path


def test_run_once_trains_through_the_pipeline(calls, experiments_root):
    from experiments.common import run_once

    with pytest.raises(Called):
        run_once("cpu2", "ae", 0, dataset="mnist", normal_class=3, image_size=32, epochs=2, batch_size=64)
    (call,) = calls
    assert call["spec"] == {"name": "mnist", "image_size": 32, "data_dir": None, "preprocessing": "range",
                            "normal_class": 3}
    assert (call["tc"].epochs, call["tc"].batch_size, call["tc"].precision) == (2, 64, "bf16")
    assert call["out"] == experiments_root / "runs" / "experiments" / "cpu2" / "mnist-class3-ae-seed0"


def test_curve_trains_each_milestone_through_the_pipeline(calls, experiments_root):
    from experiments import curve

    with pytest.raises(Called):
        curve.run_curves(["daad"], 25, None, [1])
    assert calls[0]["tc"].epochs == 25 and calls[0]["tc"].keep_epochs == curve.MILESTONES
    assert calls[0]["tc"].seed == 1 and calls[0]["out"].name == curve.curve_name("daad", 1)
    assert calls[0]["spec"]["category"] == "bottle" and calls[0]["config"].rates == (4, 4, 1)


def test_plateau_trains_through_the_pipeline(calls, experiments_root):
    from experiments import plateau

    with pytest.raises(Called):
        plateau.pilot("cifar10", "daad", None)
    assert calls[0]["spec"]["normal_class"] == plateau.NORMAL_CLASS
    assert calls[0]["tc"].batch_size == plateau.BATCH and calls[0]["tc"].epochs == plateau.MAX_EPOCHS


def test_book_fig5_trains_through_the_pipeline(calls, tmp_path):
    spec = importlib.util.spec_from_file_location("make_fig5", ROOT / "book" / "make_fig5.py")
    make_fig5 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_fig5)
    args = argparse.Namespace(checkpoint_pattern=None, runs_dir=str(tmp_path), image_size=128, epochs=3,
                              seed=0, precision="fp32", data_dir=None)
    with pytest.raises(Called):
        make_fig5.model_for(2, args)
    assert calls[0]["config"].rates == (2, 2, 1) and calls[0]["out"] == tmp_path / "fig5_r2"


def test_run_once_really_trains_and_records_its_run_folder(tiny_mvtec, experiments_root):
    """A real (tiny) run: the stored result, and a run folder with the pipeline's train.json and
    the normal score range in its checkpoint; a second call reads the stored result."""
    from experiments.common import run_once

    kwargs = dict(category="widget", data_dir=str(tiny_mvtec.parent), image_size=32, epochs=1, precision="fp32")
    result = run_once("cpu2", "ae", 0, **kwargs)
    folder = experiments_root / "runs" / "experiments" / "cpu2" / "mvtec-widget-ae-seed0"
    record = json.loads((folder / "train.json").read_text())
    assert record["dataset"]["category"] == "widget" and len(record["history"]) == 1
    assert torch.load(folder / "checkpoint.pt", weights_only=False)["score_stats"] is not None
    assert len(result["recon"]) == 5 and 0 <= result["image_auroc"] <= 1
    assert run_once("cpu2", "ae", 0, **kwargs)["date"] == result["date"]  # stored, not trained again


def test_fit_and_the_run_pipeline_train_the_same_weights(tmp_path):
    """fit (in memory) and run (into a folder) share one seed-build-train step."""
    config = make_config("ae", image_size=32, widths=(8, 16, 32))
    tc = TrainConfig(epochs=1, precision="fp32")
    spec = {"name": "stripes", "image_size": 32}
    trained = pipeline.train_run(config, spec, tc, tmp_path / "run", progress=False)
    data = pipeline.build_split(spec, "train")
    fitted = fit("ae", data, tc, image_size=32, widths=(8, 16, 32), progress=False)
    for a, b in zip(trained.detector.state_dict().values(), fitted.state_dict().values()):
        assert torch.equal(a, b)


def test_experiments_refuse_a_command_nobody_can_rerun(monkeypatch, experiments_root):
    """results/cpu2/runs/mnist-class2-ae-seed0-by_class.json names its command as "-c": such a
    process is now refused before it trains or writes anything."""
    import sys

    from daad_lib.provenance import UnrepeatableCommand, results_info
    from experiments.common import run_once

    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(UnrepeatableCommand, match="python -m experiments"):
        run_once("cpu2", "ae", 0, dataset="mnist", normal_class=3, image_size=32, epochs=1)
    assert not (experiments_root / "runs").exists()
    info = results_info(["experiments/table2.py", "--cached-only"])
    assert info["command"].startswith("python ") and "--cached-only" in info["command"]
