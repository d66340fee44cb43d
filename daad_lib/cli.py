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
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import distributed
from .checkpoint import CheckpointError, load_detector, update_checkpoint
from .config import PRESETS, make_config
from .data import (CHANNELS, DATASETS, CorruptImageError, FolderLayoutError, MVTecLayoutError, build_dataset,
                   load_image)
from .data.cache import in_memory
from .evaluate import evaluate, normal_range
from .memory import ADDRESSING
from .models import Detector
from .provenance import run_info
from .scoring import fuse, score_batch
from .train import CHECKPOINT_NAME, PRECISIONS, MissingExtra, TrainConfig, TrainingDiverged, train

DEFAULT_SIZE = {"mvtec": 256, "folder": 256, "mnist": 32, "cifar10": 32, "digits": 32, "stripes": 32}
FOLDER_DIRS = ("normal_dir", "abnormal_dir", "mask_dir", "normal_test_dir")
THRESHOLD_HELP = ("the threshold is the F1-max cut of A(x) on the test set, chosen by `daad eval`: it uses "
                  "the test labels, so it is the best cut for that set and optimistic for new images; "
                  "set your own with --threshold, ideally from labelled images not in the test set")


def dataset_spec(args) -> dict:
    """What ``daad eval`` needs to rebuild the test set (stored in the checkpoint)."""
    given = [name for name in FOLDER_DIRS if getattr(args, name)]
    if args.dataset != "folder":
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} is an option of --dataset folder, not {args.dataset}")
        return {"name": args.dataset, "category": args.category, "normal_class": args.normal_class,
                "image_size": args.image_size, "data_dir": str(args.data_dir) if args.data_dir else None}
    if not args.normal_dir:
        raise ValueError("--dataset folder needs --normal-dir (a folder of normal images)")
    return {"name": "folder", "image_size": args.image_size, "channels": args.channels or 3,
            **{name: str(Path(getattr(args, name)).expanduser().resolve()) if getattr(args, name) else None
               for name in FOLDER_DIRS},
            "normal_split_ratio": args.normal_split_ratio, "split_seed": args.split_seed}


def build_split(spec: dict, split: str, data_dir: str | None = None):
    """The train or test split a dataset spec describes (the same split every time)."""
    if spec["name"] == "folder":
        return build_dataset("folder", split, spec["image_size"], channels=spec["channels"],
                             normal_split_ratio=spec["normal_split_ratio"], seed=spec["split_seed"],
                             **{name: spec[name] for name in FOLDER_DIRS})
    return build_dataset(spec["name"], split, spec["image_size"], data_dir or spec.get("data_dir"),
                         spec.get("category") or "bottle", spec.get("normal_class") or 0)


def config_overrides(args) -> dict:
    channels = (args.channels or 3) if args.dataset == "folder" else CHANNELS[args.dataset]
    if args.channels and args.channels != channels:
        raise ValueError(f"--channels is an option of --dataset folder; {args.dataset} has {channels}")
    overrides = {"image_size": args.image_size, "channels": channels}
    for name in ("rates", "widths", "num_items", "temperature", "addressing", "threshold", "lambda_entropy",
                 "lr", "gamma"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = tuple(value) if isinstance(value, list) else value
    return overrides


def wants_distributed(args) -> bool:
    """``--distributed``, or launched by torchrun with more than one process."""
    return args.distributed or int(os.environ.get("WORLD_SIZE", "1")) > 1


def cmd_train(args) -> dict:
    args.image_size = args.image_size or DEFAULT_SIZE[args.dataset]
    config = make_config(args.model, **config_overrides(args))  # a bad size fails here, early
    spec = dataset_spec(args)
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     num_workers=args.num_workers, keep_epochs=tuple(args.keep_epochs or ()),
                     eval_every=args.eval_every, tensorboard=args.tensorboard,
                     sync_batchnorm=args.sync_batchnorm,
                     **({"precision": args.precision} if args.precision else {}))
    joined = wants_distributed(args) and not distributed.world().size > 1
    if joined:
        distributed.setup(args.device)
    try:
        return train_and_record(args, config, spec, tc)
    finally:
        if joined:
            distributed.cleanup()


def train_and_record(args, config, spec: dict, tc: TrainConfig) -> dict:
    """Train (every rank), then on rank 0 add the training images' score range to the
    checkpoint and write train.json."""
    main = distributed.world().main
    train_set = build_split(spec, "train")
    if args.num_workers == 0:
        train_set = in_memory(train_set)  # decoded once, for training and the score range below
    test_set = build_split(spec, "test")  # check the test split too before hours of training
    out = Path(args.out or f"runs/{args.dataset}_{args.model}")
    torch.manual_seed(args.seed)
    detector = Detector(config)
    began = time.perf_counter()
    history = train(detector, train_set, tc, out_dir=out, resume=args.resume, device=args.device,
                    dataset_spec=spec, progress=not args.no_progress and main,
                    eval_set=test_set if tc.eval_every else None)
    checkpoint = out / CHECKPOINT_NAME
    info = {**run_info(), "model_config": config.to_dict(), "dataset": spec, "train_config": asdict(tc),
            "processes": distributed.world().size, "wall_time_s": time.perf_counter() - began,
            "history": history}
    if main:
        update_checkpoint(checkpoint, score_stats=normal_range(detector.eval(), train_set, device=args.device))
        (out / "train.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"trained {args.model} for {len(history)} epochs"
              + (f" on {info['processes']} processes" if info["processes"] > 1 else "")
              + f"; checkpoint: {checkpoint}")
    return info


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
    out.write_text(json.dumps(report, indent=2) + "\n")
    shown = ", ".join(f"{label} {results[key]:.4f}" for key, label in METRIC_NAMES.items() if results[key] is not None)
    print(f"{results['variant']}: {shown} on {results['num_test']} test images "
          f"({results['num_anomalous']} anomalous); wrote {out}")
    if "decision" in results:
        decision = results["decision"]
        update_checkpoint(args.checkpoint, decision=decision)
        flagged = decision["flagged"]
        print(f"stored the decision threshold A(x) >= {decision['threshold']:.4f} in {args.checkpoint} "
              f"(F1-max on this test set, {decision['f1_on_test']:.3f}: it uses the test labels); it flags "
              f"{flagged['anomalous']} of {flagged['of_anomalous']} anomalous and {flagged['normal']} of "
              f"{flagged['of_normal']} normal test images")
    else:
        print("no decision threshold stored: the checkpoint has no training-image score range "
              "(it was not written by `daad train`)")
    return report


def save_map_figure(path: Path, image: torch.Tensor, x_hat: torch.Tensor, amap: torch.Tensor, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def show(t):
        return ((t.permute(1, 2, 0).squeeze(-1) + 1) / 2).clamp(0, 1).numpy()

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    cmap = "gray" if image.shape[0] == 1 else None
    axes[0].imshow(show(image), cmap=cmap)
    axes[0].set_title("input")
    axes[1].imshow(show(x_hat), cmap=cmap)
    axes[1].set_title("reconstruction")
    axes[2].imshow(show(image), cmap=cmap)
    shown = axes[2].imshow(amap.numpy(), cmap="jet", alpha=0.5)
    axes[2].set_title("anomaly map")
    fig.colorbar(shown, ax=axes[2], fraction=0.046)
    for axis in axes:
        axis.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cmd_score(args) -> list[dict]:
    detector, state = load_detector(args.checkpoint, args.model)
    config = detector.config
    ranges, decision = state.get("score_stats"), state.get("decision")
    gamma = decision["gamma"] if decision else config.gamma
    threshold = args.threshold if args.threshold is not None else (decision or {}).get("threshold")
    if ranges is None:
        print("note: the checkpoint has no training-image score range: printing R(x) and L(x) only")
    elif threshold is None:
        print("note: no decision threshold in the checkpoint: run `daad eval` on it first, or pass --threshold")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in args.images:
        x = load_image(path, config.image_size, config.channels)[None]  # (1, C, S, S)
        scores = score_batch(detector, x)
        row = {"image": str(path), "R": float(scores["recon"][0]),
               "L": None if scores["align"] is None else float(scores["align"][0])}
        if ranges:  # A(x) of Eq. 7 on the scale of the training images (normal ones are <= ~1)
            row["A"] = float(fuse(scores["recon"], scores["align"], gamma, ranges)[0])
        if "A" in row and threshold is not None:
            row["decision"] = "anomalous" if row["A"] >= threshold else "normal"
        row["map"] = str(out / f"{Path(path).stem}_map.png")
        save_map_figure(Path(row["map"]), x[0], scores["x_hat"][0], scores["map"][0],
                        f"{Path(path).name}: R={row['R']:.4f}" + (f"  A={row['A']:.2f}" if "A" in row else "")
                        + (f"  {row['decision']}" if "decision" in row else ""))
        rows.append(row)
        print(f"{path}: " + (f"{row['decision']:9s} " if "decision" in row else "")
              + (f"A(x)={row['A']:.3f} " if "A" in row else "") + f"R(x)={row['R']:.5f}"
              + (f" L(x)={row['L']:.5f}" if row["L"] is not None else "") + f" -> {row['map']}")
    rule = ("--threshold given on the command line" if args.threshold is not None
            else decision["rule"] if decision else None)
    (out / "scores.json").write_text(json.dumps({**run_info(), "checkpoint": str(args.checkpoint),
                                                 "threshold": threshold, "threshold_rule": rule, "gamma": gamma,
                                                 "scores": rows}, indent=2) + "\n")
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
        torch.manual_seed(args.seed)
        detector = Detector(make_config(variant, image_size=32, channels=1, widths=(32, 64, 128),
                                        num_items=100, **overrides))
        t0 = time.perf_counter()
        train(detector, train_set, TrainConfig(epochs=args.epochs, seed=args.seed),
              progress=not args.no_progress)
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

    p = sub.add_parser("train", help="train a model on the normal images of a dataset",
                       epilog="On several GPUs (or CPU processes): torchrun --nproc_per_node N -m daad_lib.cli "
                              "train ... ; --batch-size stays the global batch, split across the processes.")
    p.add_argument("--dataset", choices=DATASETS, default="mvtec")
    p.add_argument("--category", default="bottle", help="MVTec AD category (default bottle)")
    p.add_argument("--normal-class", type=int, default=0, help="normal class for mnist/cifar10/digits")
    folder = p.add_argument_group("--dataset folder: your own images (nested folders allowed)")
    folder.add_argument("--normal-dir", default=None, help="normal images (training, minus the held-out share)")
    folder.add_argument("--abnormal-dir", default=None, help="defective images (test only)")
    folder.add_argument("--mask-dir", default=None,
                        help="masks of the defective images, matched by file stem (<stem>.png or <stem>_mask.png)")
    folder.add_argument("--normal-test-dir", default=None,
                        help="normal test images (default: hold out --normal-split-ratio of --normal-dir)")
    folder.add_argument("--normal-split-ratio", type=float, default=0.2,
                        help="share of --normal-dir held out for testing without --normal-test-dir (default 0.2)")
    folder.add_argument("--split-seed", type=int, default=0, help="seed of that split (default 0)")
    folder.add_argument("--channels", type=int, choices=(1, 3), default=None, help="3 (RGB, default) or 1 (grey)")
    p.add_argument("--model", choices=sorted(PRESETS), default="daad")
    p.add_argument("--image-size", type=int, default=None, help="default 256 for mvtec and folder, else 32")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help=f"forward passes in float32 or under bfloat16 autocast; auto (default) = bf16 where "
                        f"the device computes it natively (CUDA, CPUs with AVX-512-BF16/AMX), else fp32")
    p.add_argument("--num-workers", type=int, default=0,
                   help="0 (default): decode the images once and keep them in memory; N > 0: decode them "
                        "in N DataLoader workers every epoch (for data that does not fit in memory)")
    p.add_argument("--keep-epochs", type=int, nargs="+", default=None, metavar="E",
                   help="also keep OUT/checkpoint_epochNNNN.pt after these epochs (e.g. 25 50 100)")
    p.add_argument("--rates", type=int, nargs=3, metavar=("RH", "RW", "RC"), default=None)
    p.add_argument("--widths", type=int, nargs="+", default=None)
    p.add_argument("--num-items", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None, help="T of softmax(similarity / T)")
    p.add_argument("--addressing", choices=ADDRESSING, default=None,
                   help="memory addressing: cosine (the paper, Eq. 1) or dot-shrink (MemAE)")
    p.add_argument("--threshold", type=float, default=None, help="drop / shrink threshold (default 1/N)")
    p.add_argument("--lambda-entropy", type=float, default=None, help="weight of MemAE's entropy loss")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--data-dir", default=None, help="data root (default $DAAD_DATA_DIR or ../shared/data)")
    p.add_argument("--out", default=None, help="output folder (default runs/<dataset>_<model>)")
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="every N epochs, compute the test metrics and add them to OUT/log.jsonl: for watching "
                        "a run, not for choosing an epoch (that would tune the model on the test set)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log losses and metrics to OUT/tensorboard (pip install 'daad-book[tensorboard]')")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training under torchrun (automatic when torchrun starts > 1 process)")
    p.add_argument("--sync-batchnorm", action="store_true",
                   help="under torchrun on GPUs: BatchNorm statistics over the whole global batch")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("eval", help="image (and pixel) metrics of a checkpoint on its test set; stores the "
                                    "decision threshold that `daad score` uses",
                       description="Image AUROC, F1-max and AUPR of A(x) (Eq. 7); pixel AUROC, AUPRO and F1-max "
                                   "when the test set has masks. Also stores in the checkpoint the threshold "
                                   "that `daad score` applies: " + THRESHOLD_HELP + ".")
    p.add_argument("checkpoint")
    p.add_argument("--model", default=None, help="insist the checkpoint holds this model")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--gamma", type=float, default=None, help="override γ of Eq. 7")
    p.add_argument("--out", default=None, help="JSON path (default eval.json beside the checkpoint)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("score", help="score images, call each normal or anomalous, write anomaly-map PNGs",
                       description="A(x) of each image on the training images' scale, and a decision: anomalous "
                                   "when A(x) >= the threshold; " + THRESHOLD_HELP + ".")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default=None)
    p.add_argument("--threshold", type=float, default=None, help="use this threshold on A(x) instead of the stored one")
    p.add_argument("--out", default="scores")
    p.set_defaults(run=cmd_score)

    p = sub.add_parser("demo", help="train AE and DAAD on scikit-learn digits (no download) and compare")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--normal-class", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="optional JSON path for the results")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_demo)
    return top


USER_ERRORS = (ValueError, FileNotFoundError, CheckpointError, MVTecLayoutError, FolderLayoutError,
               CorruptImageError, TrainingDiverged, MissingExtra)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"daad {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
