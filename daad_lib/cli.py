"""The ``daad`` command line: train, eval, score, demo.

    daad train --dataset mvtec --category bottle --model daad --image-size 128 --epochs 50 --out runs/bottle
    daad train --dataset folder --normal-dir good/ --abnormal-dir defect/ --out runs/mine
    daad eval runs/bottle/checkpoint.pt
    daad score runs/bottle/checkpoint.pt broken.png good.png --out maps/
    daad demo
    torchrun --nproc_per_node 4 -m daad_lib.cli train ...      # data-parallel on 4 GPUs
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import distributed
from .checkpoint import CheckpointError, load_detector
from .config import PRESETS, make_config
from .data import (CHANNELS, DATASETS, CorruptImageError, Folder, FolderLayoutError, MVTecLayoutError,
                   build_dataset)
from .data.common import FITS, fit_field
from .data.oneclass import PREPROCESSINGS
from .device import PRECISIONS
from .evaluate import evaluate
from .memory import ADDRESSING
from .models import Detector
from .predict import as_pil, predict, unique_names
from .provenance import run_info
from .rundir import RunFolderError, atomic_write_text
from .run import FOLDER_DIRS, THRESHOLD_QUANTILE, VALIDATION_RATIO, build_split, run
from .train import MissingExtra, TrainConfig, TrainingDiverged, fit

FOLDER_DEFAULTS = inspect.signature(Folder).parameters  # the folder flags' defaults are Folder's
DATA_DEFAULTS = inspect.signature(build_dataset).parameters
DEFAULT_SIZE = {"mvtec": 256, "folder": 256, "mnist": 32, "cifar10": 32, "digits": 32, "stripes": 32}
THRESHOLD_HELP = ("by default the threshold is the one `daad train` stored: a high quantile of A(x) on normal "
                  "training images held out of training (no test labels); --threshold-from test uses the F1-max "
                  "cut of `daad eval` on the test set instead, which uses the test labels and is optimistic "
                  "for new images; --threshold sets your own")
DECISION_NAME = "decision.json"  # daad eval's F1-max-on-test threshold, beside the checkpoint


def dataset_spec(args) -> dict:
    """What ``daad eval`` needs to rebuild the test set (stored in the checkpoint)."""
    given = [name for name in FOLDER_DIRS if getattr(args, name)]
    if args.dataset != "folder":
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} is an option of --dataset folder, not {args.dataset}")
        data_dir = str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else None  # eval runs anywhere
        return {"name": args.dataset, "category": args.category, "normal_class": args.normal_class,
                "image_size": args.image_size, "data_dir": data_dir, "validation_ratio": args.validation_ratio,
                "preprocessing": args.preprocessing, **fit_field(args.fit)}
    if not args.normal_dir:
        raise ValueError("--dataset folder needs --normal-dir (a folder of normal images)")
    return {"name": "folder", "image_size": args.image_size, "channels": args.channels or 3,
            **{name: str(Path(getattr(args, name)).expanduser().resolve()) if getattr(args, name) else None
               for name in FOLDER_DIRS},
            "normal_split_ratio": args.normal_split_ratio, "split_seed": args.split_seed,
            "validation_ratio": args.validation_ratio, **fit_field(args.fit)}


def config_overrides(args) -> dict:
    channels = (args.channels or 3) if args.dataset == "folder" else CHANNELS[args.dataset]
    if args.channels and args.channels != channels:
        raise ValueError(f"--channels is an option of --dataset folder; {args.dataset} has {channels}")
    overrides = {"image_size": args.image_size, "channels": channels}
    for name in ("rates", "widths", "num_items", "temperature", "addressing", "drop_threshold", "lambda_entropy",
                 "lr", "gamma"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = tuple(value) if isinstance(value, list) else value
    return overrides


def wants_distributed(args) -> bool:
    """``--distributed``, or launched by torchrun with more than one process."""
    return args.distributed or int(os.environ.get("WORLD_SIZE", "1")) > 1


def cmd_train(args) -> dict:
    if args.image_size is None:
        args.image_size = DEFAULT_SIZE[args.dataset]
    config = make_config(args.model, **config_overrides(args))  # a bad size fails here, early
    spec = dataset_spec(args)
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     num_workers=args.num_workers, keep_epochs=tuple(args.keep_epochs or ()),
                     eval_every=args.eval_every, tensorboard=args.tensorboard,
                     sync_batchnorm=args.sync_batchnorm, precision=args.precision,
                     weight_decay=args.weight_decay, lr_milestones=tuple(args.lr_milestones or ()),
                     deterministic=args.deterministic, flips=args.flips)
    joined = wants_distributed(args) and not distributed.world().size > 1
    if joined:
        distributed.setup(args.device)
    main = distributed.world().main  # asked before cleanup: afterwards every process looks like rank 0 of 1
    try:
        out = train_out(args)
        info = run(config, spec, tc, out, resume=args.resume, overwrite=args.overwrite, device=args.device,
                   progress=not args.no_progress, quantile=args.threshold_quantile)
    finally:
        if joined:
            distributed.cleanup()
    if main:
        decision = info["decision"]
        epochs = len(info["history"])
        print(f"trained {args.model} for {epochs} epoch{'s' if epochs != 1 else ''}"
              + (f" on {info['processes']} processes" if info["processes"] > 1 else "")
              + f"; checkpoint: {out / 'checkpoint.pt'}"
              + (f"\ndecision threshold A(x) >= {decision['threshold']:.4f}: {decision['rule']}" if decision else
                 "\nno decision threshold stored (--validation-ratio 0): pass --threshold to `daad score`")
              + few_held_out_note(decision))
    return info


def train_out(args) -> Path:
    """The run folder of ``daad train``: ``--out``, else runs/<dataset>_<model>."""
    return Path(args.out or f"runs/{args.dataset}_{args.model}")


def few_held_out_note(decision: dict | None) -> str:
    """A warning when the label-free threshold's quantile rests on too few held-out images to mean it."""
    if not decision or decision["num_images"] * (1 - decision["quantile"]) >= 1 - 1e-9:
        return ""
    return (f"\nwarning: the {decision['quantile']:g} quantile of only {decision['num_images']} held-out image(s) is about "
            f"their largest score, so expect more than {1 - decision['quantile']:.0%} of normal images above it: hold "
            f"out more normal images (--validation-ratio), or set a --threshold for `daad score`")


METRIC_NAMES = {"image_auroc": "image AUROC", "image_f1_max": "F1-max", "image_aupr": "AUPR",
                "pixel_auroc": "pixel AUROC", "pixel_aupro": "AUPRO (FPR 0.3)", "pixel_f1_max": "pixel F1-max"}


def cmd_eval(args) -> dict:
    detector, state = load_detector(args.checkpoint, args.model)
    test_set = build_split(state["dataset"], "test", args.data_dir)
    began = time.perf_counter()
    results = evaluate(detector, test_set, gamma=args.gamma, ranges=state.get("score_stats"), device=args.device)
    report = {**run_info(), "checkpoint": str(args.checkpoint), "dataset": state["dataset"],
              "model_config": state["model_config"], "train_config": state.get("train_config"),
              "epochs": state["epoch"], "eval_wall_time_s": time.perf_counter() - began, **results}
    out = Path(args.out) if args.out else Path(args.checkpoint).with_name("eval.json")
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    shown = ", ".join(f"{label} {results[key]:.4f}" for key, label in METRIC_NAMES.items() if results[key] is not None)
    print(f"{results['variant']}: {shown} on {results['num_test']} test images "
          f"({results['num_anomalous']} anomalous); wrote {out}")
    if "by_defect_type" in results:
        print("image AUROC by defect type: " + ", ".join(
            f"{name} {row['image_auroc']:.3f} ({row['num_images']})" for name, row in results["by_defect_type"].items()))
    if "decision" in results and results["decision"]["gamma"] != detector.config.gamma:
        print(f"no decision.json written: this evaluation fuses A(x) at γ = {results['decision']['gamma']}, and "
              f"`daad score` at the model's γ = {detector.config.gamma}")
    elif "decision" in results:
        decision = results["decision"]
        decision_path = Path(args.checkpoint).with_name(DECISION_NAME)  # where `daad score` reads it
        try:
            atomic_write_text(decision_path, json.dumps({**run_info(), "checkpoint": str(Path(args.checkpoint).resolve()),
                                                         "epochs": state["epoch"], **decision}, indent=2) + "\n")
        except OSError as error:  # a read-only run folder (someone else's model): the metrics are written
            print(f"note: cannot write {decision_path} ({error.strerror}): `daad score --threshold-from test` "
                  f"will not find this threshold; pass it as --threshold {decision['threshold']:.4f}")
            return report
        flagged = decision["flagged"]
        print(f"wrote the F1-max threshold A(x) >= {decision['threshold']:.4f} to {decision_path} "
              f"(F1 {decision['f1_on_test']:.3f} on this test set: it uses the test labels, so "
              f"`daad score` applies it only with --threshold-from test); it flags "
              f"{flagged['anomalous']} of {flagged['of_anomalous']} anomalous and {flagged['normal']} of "
              f"{flagged['of_normal']} normal test images")
    else:
        print("no decision threshold stored: the checkpoint has no training-image score range "
              "(it was not written by `daad train`)")
    return report


def save_map_figure(path: Path, picture, reconstruction: torch.Tensor, amap: torch.Tensor, title: str) -> None:
    """input | reconstruction | anomaly map over the input (:func:`daad_lib.viz.heatmap_overlay`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz import heatmap_overlay, to_numpy_image

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    grey = picture.mode == "L"
    axes[0].imshow(picture, cmap="gray" if grey else None)
    axes[0].set_title("input")
    axes[1].imshow(to_numpy_image(reconstruction), cmap="gray" if grey else None, vmin=0, vmax=1)
    axes[1].set_title("reconstruction")
    shown = heatmap_overlay(axes[2], picture, amap)
    axes[2].set_title("anomaly map")
    fig.colorbar(shown, ax=axes[2], fraction=0.046)
    for axis in axes:
        axis.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def score_threshold(args, detector: Detector) -> tuple[float | None, str | None]:
    """The threshold ``daad score`` applies, and its rule (see THRESHOLD_HELP)."""
    if args.threshold is not None:
        return args.threshold, "--threshold given on the command line"
    if args.threshold_from == "test":
        path = Path(args.checkpoint).with_name(DECISION_NAME)
        if not path.is_file():
            raise FileNotFoundError(f"--threshold-from test needs {path}: run `daad eval {args.checkpoint}` first")
        decision = json.loads(path.read_text())
        check_decision_current(decision, detector, path, args.checkpoint)
        return decision["threshold"], decision["rule"]
    if detector.decision is None:
        return None, None
    return detector.decision["threshold"], detector.decision["rule"]


def check_decision_current(decision: dict, detector: Detector, path: Path, checkpoint: str | Path) -> None:
    """Refuse an F1-max threshold that ``daad eval`` computed for another state of the run (a
    resumed run's weights and score range, or another γ): applied to this one it would be a
    threshold on another scale."""
    made_for = decision.get("checkpoint")
    if made_for and Path(made_for).is_absolute() and Path(made_for).resolve() != Path(checkpoint).resolve():
        raise ValueError(f"{path} holds the threshold `daad eval` found for {made_for}, not for {checkpoint}: "
                         f"run `daad eval {checkpoint}` (it writes its own decision.json beside it)")
    if decision.get("gamma") != detector.config.gamma:
        raise ValueError(f"{path} holds a threshold on A(x) at γ = {decision.get('gamma')} (daad eval --gamma), but "
                         f"daad score fuses A(x) at the model's γ = {detector.config.gamma}: run `daad eval` again "
                         f"without --gamma")
    if decision.get("score_ranges") != detector.score_stats:
        made = f" at epoch {decision['epochs']}" if "epochs" in decision else ""
        raise ValueError(f"{path} was made by `daad eval`{made}, before the checkpoint was trained further (its score "
                         f"range differs): its threshold belongs to the old weights; run `daad eval` again")


def check_score_inputs(args) -> Path:
    """Every problem with ``daad score``'s inputs and output folder, before anything is written."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if (out / "scores.json").exists() and not args.overwrite:
        raise RunFolderError(f"{out} already holds scores.json: pass --overwrite to replace it, or another --out")
    missing = [path for path in args.images if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"no such image file: {', '.join(missing)} (nothing was written)")
    return out


def cmd_score(args) -> list[dict]:
    detector = Detector.load(args.checkpoint, args.model)
    threshold, rule = score_threshold(args, detector)
    out = check_score_inputs(args)
    mode = "RGB" if detector.config.channels == 3 else "L"
    pictures = [as_pil(path, mode) for path in args.images]  # every image decoded before any output
    if detector.score_stats is None:
        print("note: the checkpoint has no training-image score range: printing R(x) and L(x) only")
    elif threshold is None:
        print("note: no decision threshold: the run held out no normal images (--validation-ratio 0); "
              "pass --threshold, or --threshold-from test after `daad eval`")
    predictions = predict(detector, pictures, detector.score_stats, threshold, device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, name, picture, prediction in zip(args.images, unique_names(args.images), pictures, predictions):
        decision = None if prediction["anomalous"] is None else ("anomalous" if prediction["anomalous"] else "normal")
        row = {"image": str(path), "A": prediction["score"], "R": prediction["recon"], "L": prediction["align"],
               "decision": decision, "map": str(out / f"{name}_map.png")}
        save_map_figure(Path(row["map"]), picture, prediction["reconstruction"], prediction["map"],
                        f"{Path(path).name}: R={row['R']:.4f}" + (f"  A={row['A']:.2f}" if row["A"] is not None else "")
                        + (f"  {decision}" if decision else ""))
        rows.append(row)
        print(f"{path}: " + (f"{decision:9s} " if decision else "")
              + (f"A(x)={row['A']:.3f} " if row["A"] is not None else "") + f"R(x)={row['R']:.5f}"
              + (f" L(x)={row['L']:.5f}" if row["L"] is not None else "") + f" -> {row['map']}")
    atomic_write_text(out / "scores.json", json.dumps({**run_info(), "checkpoint": str(args.checkpoint),
                                                      "threshold": threshold, "threshold_rule": rule,
                                                      "gamma": detector.config.gamma, "scores": rows}, indent=2) + "\n")
    return rows


def cmd_demo(args) -> dict:
    """Train AE and DAAD on scikit-learn's digits (no download) and compare their AUROCs."""
    began = time.perf_counter()
    train_set = build_dataset("digits", "train", 32, normal_class=args.normal_class)
    test_set = build_dataset("digits", "test", 32, normal_class=args.normal_class)
    print(f"demo: scikit-learn digits, normal class {args.normal_class}: {len(train_set)} training images, "
          f"{len(test_set)} test images ({sum(test_set.labels)} anomalous), 32x32, {args.epochs} epochs")
    results = {}
    for variant, overrides in (("ae", {}), ("daad", {"rates": (2, 2, 1)})):
        t0 = time.perf_counter()
        detector = fit(variant, train_set, TrainConfig(epochs=args.epochs, seed=args.seed), image_size=32,
                       channels=1, widths=(32, 64, 128), num_items=100, progress=not args.no_progress, **overrides)
        results[variant] = evaluate(detector, test_set)["image_auroc"]
        results[f"{variant}_seconds"] = time.perf_counter() - t0
        print(f"{variant:5s} image AUROC {results[variant]:.3f}  ({results[f'{variant}_seconds']:.0f} s)")
    report = {**run_info(), "dataset": "sklearn digits (one-class)", "normal_class": args.normal_class,
              "image_size": 32, "epochs": args.epochs, "seed": args.seed,
              "wall_time_s": time.perf_counter() - began, "image_auroc": results}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return report


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="daad", description="Divide-and-Assemble anomaly detection (ICCV 2021)")
    sub = top.add_subparsers(dest="command", required=True)
    shows_defaults = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}
    recipe = TrainConfig()  # the training flags' defaults are TrainConfig's

    p = sub.add_parser("train", help="train a model on the normal images of a dataset", **shows_defaults,
                       epilog="On several GPUs (or CPU processes): torchrun --nproc_per_node N -m daad_lib.cli "
                              "train ... ; --batch-size stays the global batch, split across the processes.")
    p.add_argument("--dataset", choices=DATASETS, default="mvtec", help="which data to train on")
    p.add_argument("--category", default=None,
                   help="MVTec AD category (bottle when --data-dir holds several; a category folder names itself)")
    p.add_argument("--normal-class", type=int, default=0, help="normal class for mnist/cifar10/digits")
    folder = p.add_argument_group("--dataset folder: your own images (nested folders allowed)")
    folder.add_argument("--normal-dir", default=None, help="normal images (training, minus the held-out share)")
    folder.add_argument("--abnormal-dir", default=None, help="defective images (test only)")
    folder.add_argument("--mask-dir", default=None,
                        help="masks of the defective images, matched by file stem (<stem>.png or <stem>_mask.png)")
    folder.add_argument("--normal-test-dir", default=None,
                        help="normal test images (default: hold out --normal-split-ratio of --normal-dir)")
    folder.add_argument("--normal-split-ratio", type=float, default=FOLDER_DEFAULTS["normal_split_ratio"].default,
                        help="share of --normal-dir held out for testing without --normal-test-dir")
    folder.add_argument("--split-seed", type=int, default=FOLDER_DEFAULTS["seed"].default, help="seed of that split")
    folder.add_argument("--channels", type=int, choices=(1, 3), default=None, help="3 (RGB; the default) or 1 (grey)")
    p.add_argument("--model", choices=sorted(PRESETS), default="daad", help="the model preset (Table 3's rows)")
    p.add_argument("--image-size", type=int, default=None, help="default 256 for mvtec and folder, else 32")
    p.add_argument("--epochs", type=int, default=recipe.epochs, help="epochs in all (with --resume: up to this many)")
    p.add_argument("--batch-size", type=int, default=recipe.batch_size, help="images per step (the paper's 8)")
    p.add_argument("--seed", type=int, default=recipe.seed, help="seed of the weights, the batches and the flips")
    p.add_argument("--weight-decay", type=float, default=recipe.weight_decay, help="Adam's L2 penalty")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels only (torch.use_deterministic_algorithms): a rerun with the same "
                        "seed gives bit-identical weights, also on a GPU, possibly slower")
    p.add_argument("--flips", action=argparse.BooleanOptionalAction, default=recipe.flips,
                   help="random horizontal + vertical flips (Sec. 4.1); default: the data's own choice, "
                        "on for mvtec/folder, off for mnist/digits/cifar10 (a flipped 6 looks like a 9, a flipped ship sails upside down)")
    p.add_argument("--lr-milestones", type=int, nargs="+", default=None, metavar="E",
                   help="multiply the learning rate by 0.1 at these epochs")
    p.add_argument("--preprocessing", choices=PREPROCESSINGS, default=DATA_DEFAULTS["preprocessing"].default,
                   help="mnist/cifar10: range = pixels to [-1, 1] (the paper); gcn-l1 = Deep SVDD's global "
                        "contrast normalisation and min-max scaling by the normal class's training images")
    p.add_argument("--fit", choices=FITS, default=DATA_DEFAULTS["fit"].default,
                   help="mvtec/folder: how an image that is not square becomes S x S: stretch it (the paper's), "
                        "or pad it (keep its aspect ratio: the longer side to S, the shorter padded with the "
                        "image's mean colour; R(x), the maps and the pixel metrics then read the image's own pixels only; "
                        "training's loss and DAAD+'s L(x) still see the whole input)")
    p.add_argument("--precision", choices=PRECISIONS, default=recipe.precision,
                   help="forward passes in float32 or under bfloat16 autocast; auto = bf16 where "
                        "the device computes it natively (CUDA, CPUs with AVX-512-BF16/AMX), else fp32")
    p.add_argument("--num-workers", type=int, default=recipe.num_workers,
                   help="0: decode the images once and keep them in memory; N > 0: decode them "
                        "in N DataLoader workers every epoch (for data that does not fit in memory)")
    p.add_argument("--keep-epochs", type=int, nargs="+", default=None, metavar="E",
                   help="also keep OUT/checkpoint_epochNNNN.pt after these epochs (e.g. 25 50 100)")
    p.add_argument("--rates", type=int, nargs=3, metavar=("RH", "RW", "RC"), default=None)
    p.add_argument("--widths", type=int, nargs="+", default=None)
    p.add_argument("--num-items", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None, help="T of softmax(similarity / T)")
    p.add_argument("--addressing", choices=ADDRESSING, default=None,
                   help="memory addressing: cosine (the paper, Eq. 1) or dot-shrink (MemAE)")
    p.add_argument("--drop-threshold", type=float, default=None,
                   help="memory weights below it are dropped (cosine) or shrunk (dot-shrink); default 1/N")
    p.add_argument("--lambda-entropy", type=float, default=None, help="weight of MemAE's entropy loss")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--data-dir", default=None, help="data root (default $DAAD_DATA_DIR or ../shared/data)")
    p.add_argument("--validation-ratio", type=float, default=VALIDATION_RATIO,
                   help="share of the normal training images held out of training to set the decision "
                        "threshold without test labels (0: none held out, no threshold stored)")
    p.add_argument("--threshold-quantile", type=float, default=THRESHOLD_QUANTILE,
                   help="the decision threshold is this quantile of A(x) on the held-out normal images")
    p.add_argument("--out", default=None, help="output folder (default runs/<dataset>_<model>)")
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in OUT from its checkpoint (the recipe and data must be the same)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in OUT (its files are removed first); without it an existing run is refused")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--eval-every", type=int, default=recipe.eval_every, metavar="N",
                   help="every N epochs, compute the test metrics and add them to OUT/log.jsonl: for watching "
                        "a run, not for choosing an epoch (that would tune the model on the test set)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log losses and metrics to OUT/tensorboard (pip install 'daad-book[tensorboard]')")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training under torchrun (automatic when torchrun starts > 1 process)")
    p.add_argument("--sync-batchnorm", action="store_true",
                   help="under torchrun on GPUs: BatchNorm statistics over the whole global batch")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("eval", help="image (and pixel) metrics of a checkpoint on its test set",
                       description="Image AUROC, F1-max and AUPR of A(x) (Eq. 7); pixel AUROC, AUPRO and F1-max "
                                   "when the test set has masks. Writes eval.json and decision.json (the F1-max "
                                   "cut on the test set) beside the checkpoint; the checkpoint is not changed.",
                       **shows_defaults)
    p.add_argument("checkpoint")
    p.add_argument("--model", default=None, help="insist the checkpoint holds this model")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--gamma", type=float, default=None, help="override γ of Eq. 7")
    p.add_argument("--out", default=None, help="JSON path (default eval.json beside the checkpoint)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("score", help="score images, call each normal or anomalous, write anomaly-map PNGs",
                       description="A(x) of each image on the training images' scale, and a decision: anomalous "
                                   "when A(x) >= the threshold; " + THRESHOLD_HELP + ".", **shows_defaults)
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default=None)
    p.add_argument("--threshold", type=float, default=None, help="use this threshold on A(x)")
    p.add_argument("--threshold-from", choices=("normal", "test"), default="normal",
                   help="normal: the quantile of held-out normal training images (daad train); "
                        "test: the F1-max cut on the test set (daad eval; optimistic)")
    p.add_argument("--out", default="scores")
    p.add_argument("--overwrite", action="store_true", help="replace the scores already in OUT")
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_score)

    p = sub.add_parser("demo", help="train AE and DAAD on scikit-learn digits (no download) and compare",
                       **shows_defaults)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--normal-class", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="optional JSON path for the results")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_demo)
    return top


USER_ERRORS = (ValueError, FileNotFoundError, CheckpointError, MVTecLayoutError, FolderLayoutError,
               CorruptImageError, TrainingDiverged, MissingExtra, RunFolderError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"daad {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        saved = args.command == "train" and (train_out(args) / "checkpoint.pt").is_file()
        resume = (f" {train_out(args) / 'checkpoint.pt'} keeps the last finished epoch: give the same command with "
                  "--resume to continue." if saved else "")
        print(f"\ndaad {args.command}: interrupted.{resume}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
