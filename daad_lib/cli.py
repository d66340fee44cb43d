"""The ``daad`` command line: train, eval, score, demo.

    daad train --dataset mvtec --category bottle --model daad --image-size 128 --epochs 50 --out runs/bottle
    daad eval runs/bottle/checkpoint.pt
    daad score runs/bottle/checkpoint.pt broken.png good.png --out maps/
    daad demo
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint, load_detector, save_checkpoint
from .config import PRESETS, make_config
from .data import CHANNELS, DATASETS, CorruptImageError, MVTecLayoutError, build_dataset, load_image
from .data.cache import in_memory
from .evaluate import evaluate, score_dataset
from .memory import ADDRESSING
from .models import Detector
from .provenance import run_info
from .scoring import score_batch
from .train import PRECISIONS, TrainConfig, TrainingDiverged, train

DEFAULT_SIZE = {"mvtec": 256, "mnist": 32, "cifar10": 32, "digits": 32, "stripes": 32}


def dataset_spec(args) -> dict:
    """What ``daad eval`` needs to rebuild the test set (stored in the checkpoint)."""
    return {"name": args.dataset, "category": args.category, "normal_class": args.normal_class,
            "image_size": args.image_size, "data_dir": str(args.data_dir) if args.data_dir else None}


def build_split(spec: dict, split: str, data_dir: str | None = None):
    return build_dataset(spec["name"], split, spec["image_size"], data_dir or spec.get("data_dir"),
                         spec.get("category") or "bottle", spec.get("normal_class") or 0)


def config_overrides(args) -> dict:
    overrides = {"image_size": args.image_size, "channels": CHANNELS[args.dataset]}
    for name in ("rates", "widths", "num_items", "temperature", "addressing", "threshold", "lambda_entropy",
                 "lr", "gamma"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = tuple(value) if isinstance(value, list) else value
    return overrides


@torch.no_grad()
def normal_range(detector: Detector, dataset) -> dict:
    """Min and max of R(x) and L(x) over the training images: the scale ``daad score`` uses."""
    scores = score_dataset(detector, dataset)
    stats = {"recon": [float(scores["recon"].min()), float(scores["recon"].max())]}
    if scores["align"] is not None:
        stats["align"] = [float(scores["align"].min()), float(scores["align"].max())]
    return stats


def cmd_train(args) -> dict:
    args.image_size = args.image_size or DEFAULT_SIZE[args.dataset]
    config = make_config(args.model, **config_overrides(args))  # a bad size fails here, early
    spec = dataset_spec(args)
    train_set = build_split(spec, "train")
    if args.num_workers == 0:
        train_set = in_memory(train_set)  # decoded once, for training and the score range below
    build_split(spec, "test")  # check the test split too before hours of training
    out = Path(args.out or f"runs/{args.dataset}_{args.model}")
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     num_workers=args.num_workers, keep_epochs=tuple(args.keep_epochs or ()),
                     **({"precision": args.precision} if args.precision else {}))
    torch.manual_seed(args.seed)
    detector = Detector(config)
    began = time.perf_counter()
    history = train(detector, train_set, tc, out_dir=out, resume=args.resume, device=args.device,
                    dataset_spec=spec, progress=not args.no_progress)
    checkpoint = out / "checkpoint.pt"
    state = load_checkpoint(checkpoint)
    state["score_stats"] = normal_range(detector.eval(), train_set)
    save_checkpoint(checkpoint, {k: v for k, v in state.items() if k not in ("format", "version")})
    info = {**run_info(), "model_config": config.to_dict(), "dataset": spec,
            "train_config": asdict(tc), "wall_time_s": time.perf_counter() - began,
            "history": history}
    (out / "train.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"trained {args.model} for {len(history)} epochs; checkpoint: {checkpoint}")
    return info


def cmd_eval(args) -> dict:
    detector, state = load_detector(args.checkpoint, args.model)
    test_set = build_split(state["dataset"], "test", args.data_dir)
    began = time.perf_counter()
    results = evaluate(detector, test_set, gamma=args.gamma, device=args.device)
    report = {**run_info(), "checkpoint": str(args.checkpoint), "dataset": state["dataset"],
              "model_config": state["model_config"], "train_config": state.get("train_config"),
              "epochs": state["epoch"], "eval_wall_time_s": time.perf_counter() - began, **results}
    out = Path(args.out) if args.out else Path(args.checkpoint).with_name("eval.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    pixel = results["pixel_auroc"]
    print(f"{results['variant']}: image AUROC {results['image_auroc']:.4f}"
          + (f", pixel AUROC {pixel:.4f}" if pixel is not None else "")
          + f" on {results['num_test']} test images ({results['num_anomalous']} anomalous); wrote {out}")
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
    stats = state.get("score_stats")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in args.images:
        x = load_image(path, config.image_size, config.channels)[None]  # (1, C, S, S)
        scores = score_batch(detector, x)
        row = {"image": str(path), "R": float(scores["recon"][0]),
               "L": None if scores["align"] is None else float(scores["align"][0])}
        if stats:  # A(x) of Eq. 7 on the scale of the training images (normal ones are <= ~1)
            low, high = stats["recon"]
            score = (row["R"] - low) / max(high - low, 1e-12)
            if row["L"] is not None and config.gamma < 1:
                a_low, a_high = stats["align"]
                score = config.gamma * score + (1 - config.gamma) * (row["L"] - a_low) / max(a_high - a_low, 1e-12)
            row["A"] = score
        row["map"] = str(out / f"{Path(path).stem}_map.png")
        save_map_figure(Path(row["map"]), x[0], scores["x_hat"][0], scores["map"][0],
                        f"{Path(path).name}: R={row['R']:.4f}" + (f"  A={row['A']:.2f}" if "A" in row else ""))
        rows.append(row)
        print(f"{path}: R(x)={row['R']:.5f}" + (f" L(x)={row['L']:.5f}" if row["L"] is not None else "")
              + (f" A(x)={row['A']:.3f}" if "A" in row else "") + f" -> {row['map']}")
    (out / "scores.json").write_text(json.dumps({**run_info(), "checkpoint": str(args.checkpoint),
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

    p = sub.add_parser("train", help="train a model on the normal images of a dataset")
    p.add_argument("--dataset", choices=DATASETS, default="mvtec")
    p.add_argument("--category", default="bottle", help="MVTec AD category (default bottle)")
    p.add_argument("--normal-class", type=int, default=0, help="normal class for mnist/cifar10/digits")
    p.add_argument("--model", choices=sorted(PRESETS), default="daad")
    p.add_argument("--image-size", type=int, default=None, help="default 256 for mvtec, else 32")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help=f"forward passes in float32 or under bfloat16 autocast (default {TrainConfig.precision})")
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
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("eval", help="image (and pixel) AUROC of a checkpoint on its test set")
    p.add_argument("checkpoint")
    p.add_argument("--model", default=None, help="insist the checkpoint holds this model")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--gamma", type=float, default=None, help="override γ of Eq. 7")
    p.add_argument("--out", default=None, help="JSON path (default eval.json beside the checkpoint)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("score", help="score images and write anomaly-map PNGs")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default=None)
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


USER_ERRORS = (ValueError, FileNotFoundError, CheckpointError, MVTecLayoutError, CorruptImageError,
               TrainingDiverged)


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
