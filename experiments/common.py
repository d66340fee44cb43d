"""Shared machinery of the table scripts: protocols, one cached training run, aggregation.

Each run trains one model with one seed, scores the whole test set and stores the
raw per-image scores in ``results/<protocol>/runs/<run name>.json``. A finished
run is never repeated (delete its file to redo it); an interrupted one resumes
from its checkpoint under ``runs/experiments/``. Tables are computed from the
stored scores, so Table 5's score variants and Fig. 6 need no retraining.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from daad_lib.config import make_config
from daad_lib.data import CHANNELS, build_dataset
from daad_lib.evaluate import score_dataset
from daad_lib.metrics import image_auroc, pixel_auroc
from daad_lib.models import Detector
from daad_lib.provenance import run_info
from daad_lib.scoring import fuse
from daad_lib.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]

# CPU protocol: what finishes on a 2-core machine within a session. Paper: Sec. 4.1.
PROTOCOLS = {
    "cpu": {"image_size": 128, "epochs": 25, "seeds": [0, 1, 2]},
    "paper": {"image_size": 256, "epochs": 1000, "seeds": [0]},
}
PROTOCOL_LABEL = {
    "cpu": "CPU protocol (128 px, 25 epochs, 2-core CPU)",
    "paper": "paper protocol (256 px, 1000 epochs)",
}


def results_dir(protocol: str) -> Path:
    return ROOT / "results" / protocol


def run_name(dataset: str, subset: str, variant: str, seed: int, tag: str = "") -> str:
    return f"{dataset}-{subset}-{variant}{'-' + tag if tag else ''}-seed{seed}"


def run_once(protocol: str, variant: str, seed: int, dataset: str = "mvtec", category: str = "bottle",
             normal_class: int = 0, tag: str = "", image_size: int | None = None,
             epochs: int | None = None, data_dir: str | None = None, cached_only: bool = False,
             store_scores: bool = True, **overrides) -> dict | None:
    """Train + score one model (or load the stored result of an earlier identical run).

    With ``cached_only``, never train: return None when the run has no stored result.
    ``store_scores=False`` keeps only the AUROCs (for test sets of thousands of images).
    """
    settings = PROTOCOLS[protocol]
    image_size = image_size or settings["image_size"]
    epochs = epochs or settings["epochs"]
    subset = category if dataset == "mvtec" else f"class{normal_class}"
    name = run_name(dataset, subset, variant, seed, tag)
    stored = results_dir(protocol) / "runs" / f"{name}.json"
    if stored.exists():
        return json.loads(stored.read_text())
    if cached_only:
        return None

    config = make_config(variant, image_size=image_size, channels=CHANNELS[dataset], **overrides)
    train_set = build_dataset(dataset, "train", image_size, data_dir, category, normal_class)
    test_set = build_dataset(dataset, "test", image_size, data_dir, category, normal_class)
    torch.manual_seed(seed)
    detector = Detector(config)
    checkpoint_dir = ROOT / "runs" / "experiments" / protocol / name
    began = time.perf_counter()
    history = train(detector, train_set, TrainConfig(epochs=epochs, seed=seed), out_dir=checkpoint_dir,
                    resume=(checkpoint_dir / "checkpoint.pt").exists(), progress=sys.stderr.isatty())
    train_seconds = sum(epoch["seconds"] for epoch in history)  # all epochs, across resumes too
    scores = score_dataset(detector.eval(), test_set)
    result = {
        **run_info(), "name": name, "protocol": protocol, "dataset": dataset, "subset": subset,
        "split": "train: normal training images; test: whole test set", "variant": variant, "tag": tag,
        "seed": seed, "image_size": image_size, "epochs": epochs, "batch_size": 8,
        "model_config": config.to_dict(), "train_wall_time_s": train_seconds,
        "wall_time_s": time.perf_counter() - began, "final_losses": history[-1],
        "labels": scores["labels"].tolist(), "recon": scores["recon"].tolist(),
        "align": scores["align"].tolist() if scores["align"] is not None else None,
    }
    if scores["masks"] is not None:
        result["defect_area"] = scores["masks"].flatten(1).mean(1).tolist()  # fraction of pixels
        result["pixel_auroc"] = pixel_auroc(scores["maps"], scores["masks"])
    result.update(aurocs(result, config.gamma))
    if not store_scores:
        for key in ("labels", "recon", "align"):
            result.pop(key)
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{name}: image AUROC {result['image_auroc']:.3f} ({train_seconds:.0f} s)", flush=True)
    return result


def aurocs(run: dict, gamma: float) -> dict:
    """Image AUROC of A(x) with the model's γ, of R(x) alone and of L(x) alone."""
    labels = torch.tensor(run["labels"])
    recon = torch.tensor(run["recon"])
    align = torch.tensor(run["align"]) if run.get("align") is not None else None
    return {
        "image_auroc": image_auroc(fuse(recon, align, gamma), labels),
        "image_auroc_recon": image_auroc(recon, labels),
        "image_auroc_align": image_auroc(align, labels) if align is not None else None,
    }


def mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": values}


def fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat["n"] > 1 else f"{stat['mean']:.3f}"


def write_outputs(protocol: str, stem: str, report: dict, markdown: str) -> Path:
    """Write ``<stem>.json`` (with provenance) and ``<stem>.md`` into results/<protocol>/."""
    out = results_dir(protocol)
    out.mkdir(parents=True, exist_ok=True)
    report = {**run_info(), "protocol": protocol, "protocol_label": PROTOCOL_LABEL[protocol], **report}
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
    return out / f"{stem}.json"


def subplots(*args, **kwargs):
    """``plt.subplots`` on the file-only Agg backend: the table scripts run headless."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: Path) -> None:
    """Lay out, write to ``path`` (PNG, 120 dpi) and free the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(doc: str, extra=None):
    """The table scripts' shared command line (``extra(parser)`` adds script-specific options);
    sets torch's thread count when ``--threads`` is given."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    protocol_argument(parser)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def protocol_argument(parser) -> None:
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cached-only", action="store_true",
                        help="only tabulate runs already stored; report the others as missing")
