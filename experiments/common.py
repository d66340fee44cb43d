"""Shared machinery of the table scripts: protocols, one cached training run, aggregation.

Each run trains one model with one seed through the library's run pipeline
(:func:`daad_lib.run.train_run`), scores the whole test set and stores the
raw per-image scores in ``results/<protocol>/runs/<run name>.json``. A finished
run is never repeated (delete its file to redo it); an interrupted one resumes
from its checkpoint under ``runs/experiments/``. A stored run is only reused when
its model config, epochs, seed, image size and precision equal the requested ones;
otherwise :class:`StaleRun` names what differs. Tables are computed from the stored
scores, so Table 5's score variants and Fig. 6 need no retraining.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from daad_lib import run as pipeline
from daad_lib.config import BLOCK_RATES, PRESETS, ModelConfig, make_config
from daad_lib.data import CHANNELS, resolve_data_dir
from daad_lib.data.common import fit_field
from daad_lib.evaluate import metrics_from_scores, score_dataset
from daad_lib.provenance import check_rerunnable, pin_commit, results_info
from daad_lib.run import Trained
from daad_lib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

# The one protocol table every experiment reads. CPU protocols: what finishes on a 2-core machine.
# Paper: Sec. 4.1. The top level is the MVTec-layout data (bottle, magnetic tile); ``oneclass`` is
# Table 2's one-class MNIST / CIFAR-10 (the paper states no image size or epochs for it).
# ``model_defaults`` pin config fields whose library defaults changed after a protocol's runs were
# made (the first CPU protocol ran (8, 8, 1) at 128 px and widths (32, 64, 128, 256) at every size).
PROTOCOLS = {
    "cpu": {"image_size": 128, "epochs": 25, "seeds": [0, 1, 2], "precision": "fp32",
            "model_defaults": {"widths": (32, 64, 128, 256), "block_rates": (8, 8, 1)},
            "oneclass": {"image_size": 32, "epochs": {"mnist": 2, "cifar10": 2}, "seeds": [0, 1, 2]}},
    "cpu2": {"image_size": 128, "epochs": 100, "seeds": [0, 1, 2], "precision": "bf16",
             "model_defaults": {},
             # the block-memory models of the tables are the addressing study's default rule, under
             # the study's run names (results/cpu2/addressing.md: the paper's cosine at T = 1)
             "daad_tag": {"daad": "cosine", "daad_plus": "cosine"},
             # batch 64 and the epochs at which the training loss plateaus (results/cpu2/plateau.md)
             "oneclass": {"image_size": 32, "epochs": {"mnist": 40, "cifar10": 30}, "seeds": [0], "batch_size": 64}},
    "paper": {"image_size": 256, "epochs": 1000, "seeds": [0], "precision": "bf16", "model_defaults": {},
              # our longer GPU setting for Table 2
              "oneclass": {"image_size": 32, "epochs": {"mnist": 15, "cifar10": 15}, "seeds": [0, 1, 2]}},
    # Deep SVDD's DCAE recipe (results/dcae/recipe.md), for one-class MNIST and CIFAR-10
    "dcae": {"image_size": 32, "epochs": 350, "seeds": [0, 1, 2], "precision": "fp32", "model_defaults": {},
             "batch_size": 200, "lr_milestones": (250,), "preprocessing": "gcn-l1",
             # the recipe's L2 penalty 1/C on its summed loss (C = 1e3, 1e6), rescaled to our mean
             # loss by daad_lib.train.weight_decay_for_summed_loss (results/dcae/observations.md)
             "weight_decay_of_summed_loss": {"mnist": 1e-3, "cifar10": 1e-6},
             "flips": False},  # Deep SVDD trains without augmentation (results/dcae/flips.md)
}
PROTOCOL_LABEL = {
    "cpu": "CPU protocol (128 px, 25 epochs, float32, r = (8, 8, 1), 2-core CPU)",
    "cpu2": "CPU protocol 2 (128 px, 100 epochs, bfloat16 autocast, block-size rates (4, 4, 1), 2-core CPU)",
    "paper": "paper protocol (256 px, 1000 epochs)",
    "dcae": "Deep SVDD's DCAE recipe (32 px, l1 GCN + min-max, batch 200, Adam 1e-4 -> 1e-5 at 250, 350 epochs, fp32)",
    "book": "the chapters' own settings (64 px, batch 8, constant lr 1e-4, precision auto, 2-core CPU)",
}


# A run's training recipe beyond the protocol's epochs, batch and precision; a stored run without a
# field was made with its default here (``flips``: the paper's horizontal + vertical flips, Sec. 4.1).
# ``fit``: how a non-square image becomes S x S (daad_lib.data.common.fit_box); the paper stretches.
RECIPE_DEFAULTS = {"weight_decay": 0.0, "lr_milestones": [], "preprocessing": "range", "flips": True, "fit": "stretch"}

# Magnetic-tile defects live in their own folder of the data root (daad_lib.data.MAGNETIC_TILE);
# every experiment finds them through mvtec_folder / subset_location.
from daad_lib.data import MAGNETIC_TILE  # noqa: E402


def oneclass_settings(protocol: str) -> dict:
    """Table 2's one-class settings of a protocol: image_size, epochs by dataset, seeds, batch_size."""
    if "oneclass" not in PROTOCOLS[protocol]:
        raise SystemExit(f"--protocol {protocol} has no one-class (Table 2) settings")
    return PROTOCOLS[protocol]["oneclass"]


def mvtec_folder(subset: str, data_dir: str | Path | None) -> Path:
    """The MVTec-layout folder of a subset: magnetic tile's own folder, or an MVTec AD category."""
    root = resolve_data_dir(data_dir)
    if subset == MAGNETIC_TILE:
        return root / MAGNETIC_TILE
    return root / "mvtec_ad" / subset if (root / "mvtec_ad").is_dir() else root / subset


def subset_location(subset: str, data_dir: str | None) -> dict:
    """run_once's ``category`` and ``data_dir`` of an MVTec-layout subset (magnetic tile: its folder)."""
    if subset == MAGNETIC_TILE:
        return {"category": subset, "data_dir": str(mvtec_folder(subset, data_dir))}
    return {"category": subset, "data_dir": data_dir}


class StaleRun(RuntimeError):
    """A stored run whose settings differ from the requested ones."""


def results_dir(protocol: str) -> Path:
    return ROOT / "results" / protocol


def run_name(dataset: str, subset: str, variant: str, seed: int, tag: str = "") -> str:
    return f"{dataset}-{subset}-{variant}{'-' + tag if tag else ''}-seed{seed}"


def protocol_config(protocol: str, variant: str, image_size: int, channels: int, **overrides):
    """The model config of a run: the preset, the protocol's pinned defaults, then ``overrides``."""
    pinned = dict(PROTOCOLS[protocol]["model_defaults"])
    block = pinned.pop("block_rates", None)
    if block is not None and PRESETS[variant].get("rates") == BLOCK_RATES:
        pinned["rates"] = block
    return make_config(variant, image_size=image_size, channels=channels, **{**pinned, **overrides})


def check_stored(stored: dict, config, epochs: int, seed: int, precision: str, batch_size: int = 8,
                 recipe: dict | None = None) -> None:
    """Raise :class:`StaleRun` unless a stored run was made with exactly these settings
    (``recipe``: weight decay, lr milestones, preprocessing, flips; runs made before they were
    recorded had the defaults)."""
    wanted = {"model_config": config.to_dict(), "epochs": epochs, "seed": seed, "precision": precision,
              "batch_size": batch_size, **RECIPE_DEFAULTS, **(recipe or {})}
    held = {"model_config": ModelConfig.from_dict(stored["model_config"]).to_dict(),
            "epochs": stored["epochs"], "seed": stored["seed"], "precision": stored.get("precision", "fp32"),
            "batch_size": stored.get("batch_size", 8),
            **{key: stored.get(key, default) for key, default in RECIPE_DEFAULTS.items()}}
    held["lr_milestones"] = list(held["lr_milestones"])
    wanted["lr_milestones"] = list(wanted["lr_milestones"])
    differ = {key: (held[key], wanted[key]) for key in wanted if held[key] != wanted[key]}
    if differ:
        raise StaleRun(f"stored run {stored['name']} was made with other settings (stored, requested): "
                       f"{differ}; delete its file to rerun it")


def run_once(protocol: str, variant: str, seed: int, dataset: str = "mvtec", category: str = "bottle",
             normal_class: int = 0, tag: str = "", image_size: int | None = None,
             epochs: int | None = None, data_dir: str | None = None, cached_only: bool = False,
             store_scores: bool = True, precision: str | None = None, keep_epochs: tuple = (),
             batch_size: int = 8, recipe: dict | None = None, **overrides) -> dict | None:
    """Train + score one model (or load the stored result of an earlier identical run).

    With ``cached_only``, never train: return None when the run has no stored result.
    ``store_scores=False`` keeps only the AUROCs (for test sets of thousands of images).
    ``keep_epochs`` keeps checkpoints at those epochs under ``runs/experiments/``.
    ``recipe`` sets ``weight_decay``, ``lr_milestones``, the data's ``preprocessing``, ``fit`` and ``flips``.
    """
    recipe = {**RECIPE_DEFAULTS, **(recipe or {})}
    settings = PROTOCOLS[protocol]
    image_size = image_size or settings["image_size"]
    epochs = epochs or settings["epochs"]
    precision = precision or settings["precision"]
    subset = category if dataset == "mvtec" else f"class{normal_class}"
    name = run_name(dataset, subset, variant, seed, tag)
    stored = results_dir(protocol) / "runs" / f"{name}.json"
    config = protocol_config(protocol, variant, image_size, CHANNELS[dataset], **overrides)
    if stored.exists():
        result = json.loads(stored.read_text())
        check_stored(result, config, epochs, seed, precision, batch_size, recipe)
        return result
    if cached_only:
        return None

    spec = data_spec(dataset, image_size, data_dir, category, normal_class, recipe["preprocessing"], recipe["fit"])
    train_config = TrainConfig(epochs=epochs, seed=seed, precision=precision, keep_epochs=keep_epochs,
                               batch_size=batch_size, weight_decay=recipe["weight_decay"], flips=recipe["flips"],
                               lr_milestones=tuple(recipe["lr_milestones"]))
    began = time.perf_counter()
    trained = train_in(checkpoint_folder(protocol, name), config, spec, train_config)
    history = trained.info["history"]
    train_seconds = sum(epoch["seconds"] for epoch in history)  # all epochs, across resumes too
    scores = score_dataset(trained.detector, trained.test_set)
    result = {
        **results_info(), "name": name, "protocol": protocol, "dataset": dataset, "subset": subset,
        "split": "train: normal training images; test: whole test set", "variant": variant, "tag": tag,
        "seed": seed, "image_size": image_size, "epochs": epochs, "batch_size": batch_size, "precision": precision,
        **{key: list(value) if isinstance(value, tuple) else value for key, value in recipe.items()},
        "model_config": config.to_dict(), "train_wall_time_s": train_seconds,
        "wall_time_s": time.perf_counter() - began, "final_losses": history[-1],
        "labels": scores["labels"].tolist(), "recon": scores["recon"].tolist(),
        "align": scores["align"].tolist() if scores["align"] is not None else None,
    }
    if scores["masks"] is not None:  # the share of each image's own pixels (all of them unless padded)
        own = scores["valid"].flatten(1).sum(1) if scores["valid"] is not None else scores["masks"][0].numel()
        result["defect_area"] = (scores["masks"].flatten(1).sum(1) / own).tolist()
    result.update(metrics_from_scores(scores, config.gamma))  # image + pixel AUROC, AUPRO, F1-max, AUPR
    if not store_scores:
        for key in ("labels", "recon", "align"):
            result.pop(key)
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{name}: image AUROC {result['image_auroc']:.3f} ({train_seconds:.0f} s)", flush=True)
    return result


def data_spec(dataset: str, image_size: int, data_dir: str | None = None, category: str | None = "bottle",
              normal_class: int = 0, preprocessing: str = "range", fit: str = "stretch") -> dict:
    """The library's dataset spec (:func:`daad_lib.run.build_split`) of an experiment's data:
    an MVTec-layout ``category``, or one-class ``normal_class`` of MNIST / CIFAR-10."""
    spec = {"name": dataset, "image_size": image_size, "data_dir": data_dir, "preprocessing": preprocessing}
    if dataset == "mvtec":
        return {**spec, "category": category, **fit_field(fit)}
    return {**spec, "normal_class": normal_class}


def train_in(folder: Path, config: ModelConfig, spec: dict, train_config: TrainConfig) -> Trained:
    """Train (resuming what ``folder`` holds) through the library's one run pipeline,
    :func:`daad_lib.run.train_run`: the run folder gets its checkpoint, log and ``train.json``.
    A process whose command cannot be rerun (``python -c``) is refused before any epoch."""
    check_rerunnable()
    return pipeline.train_run(config, spec, train_config, folder, resume=pipeline.has_checkpoint(folder),
                              progress=sys.stderr.isatty())


def checkpoint_folder(protocol: str, name: str) -> Path:
    """Where a run's checkpoints live (ignored by git: ``runs/`` holds no results)."""
    return ROOT / "runs" / "experiments" / protocol / name


def aurocs(run: dict, gamma: float) -> dict:
    """Image AUROC of A(x) with the model's γ, of R(x) alone and of L(x) alone
    (from the library's :func:`~daad_lib.evaluate.metrics_from_scores`)."""
    scores = {"labels": torch.tensor(run["labels"]), "recon": torch.tensor(run["recon"]),
              "align": torch.tensor(run["align"]) if run.get("align") is not None else None}
    metrics = metrics_from_scores(scores, gamma)
    return {key: metrics[key] for key in ("image_auroc", "image_auroc_recon", "image_auroc_align")}


def mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": values}


def paired_difference(of: dict[int, float], against: dict[int, float]) -> dict:
    """``of - against`` paired by seed over the seeds both have (``{seed: value}`` each): the
    per-seed differences and their mean ± sd, the spread a "beats" claim must carry."""
    seeds = sorted(set(of) & set(against))
    differences = [of[s] - against[s] for s in seeds]
    return {"seeds": seeds, "per_seed": differences, **mean_std(differences)}


def fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat["n"] > 1 else f"{stat['mean']:.3f}"


def write_outputs(protocol: str, stem: str, report: dict, markdown: str) -> Path:
    """Write ``<stem>.json`` (with provenance) and ``<stem>.md`` into results/<protocol>/."""
    out = results_dir(protocol)
    out.mkdir(parents=True, exist_ok=True)
    report = {**results_info(), "protocol": protocol, "protocol_label": PROTOCOL_LABEL[protocol], **report}
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
    pin_commit()  # every record of this command names the tree it started from
    return args


def protocol_argument(parser) -> None:
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cached-only", action="store_true",
                        help="only tabulate runs already stored; report the others as missing")
