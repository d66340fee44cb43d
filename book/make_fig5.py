"""The paper's Fig. 5 for the book: DAAD reconstructions of *bottle* test images at division
rates r_h = r_w = 1, 2, 4, 8, from models trained at 128 px.

    python book/make_fig5.py [--epochs 25] [--image-size 128] [--precision bf16]
    python book/make_fig5.py --checkpoint-pattern "runs/cpu/mvtec-bottle-daad-r{rate}-seed0/checkpoint.pt"

Trains one DAAD per rate through the library's run pipeline (``daad_lib.run.train_run``;
resumable: run folders runs/book/fig5_r<rate>/), or loads trained
checkpoints that match ``--checkpoint-pattern`` (for example the Table 4 runs, which have the
same protocol), then writes results/book/fig5_bottle.{json,md,png}: the reconstructions of the
test image with the largest defect and of one image of every other defect type, each rate's image
AUROC, and the provenance (command, commit, seed, image size, epochs, precision, hardware, wall
time). Chapter 4 shows the PNG and the table when they are committed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from daad_lib import run as pipeline  # noqa: E402
from daad_lib.checkpoint import load_detector  # noqa: E402
from daad_lib.config import make_config  # noqa: E402
from daad_lib.data import build_dataset  # noqa: E402
from daad_lib.evaluate import evaluate  # noqa: E402
from daad_lib.models import Detector  # noqa: E402
from daad_lib.provenance import run_info  # noqa: E402
from daad_lib.train import TrainConfig  # noqa: E402
from daad_lib.viz import show  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def chosen_images(test_set) -> list[int]:
    """The test image with the largest defect, then the largest of every other defect type."""
    best: dict[str, tuple[float, int]] = {}
    for index, (path, label, _) in enumerate(test_set.items):
        if label == 1:
            area = float(test_set[index]["mask"].mean())
            kind = path.parent.name
            if kind not in best or area > best[kind][0]:
                best[kind] = (area, index)
    return [index for _, index in sorted(best.values(), reverse=True)]


def model_for(rate: int, args) -> tuple[Detector, float]:
    """A trained DAAD at ``rate`` and the seconds its training took here (0 when loaded)."""
    if args.checkpoint_pattern:
        detector, state = load_detector(ROOT / args.checkpoint_pattern.format(rate=rate), "daad")
        if detector.config.rates != (rate, rate, 1) or detector.config.image_size != args.image_size:
            raise SystemExit(f"checkpoint for r = {rate} holds rates {detector.config.rates} at "
                             f"{detector.config.image_size} px, not ({rate}, {rate}, 1) at {args.image_size} px")
        if state["epoch"] != args.epochs:
            raise SystemExit(f"checkpoint for r = {rate} was trained {state['epoch']} epochs, not {args.epochs}")
        return detector, 0.0
    out = Path(args.runs_dir) / f"fig5_r{rate}"
    spec = {"name": "mvtec", "category": "bottle", "image_size": args.image_size, "data_dir": args.data_dir}
    began = time.perf_counter()
    trained = pipeline.train_run(make_config("daad", image_size=args.image_size, rates=(rate, rate, 1)), spec,
                                 TrainConfig(epochs=args.epochs, seed=args.seed, precision=args.precision),
                                 out, resume=pipeline.has_checkpoint(out))
    return trained.detector, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--rates", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "book"), help="checkpoints of the trainings")
    parser.add_argument("--out", default=str(ROOT / "results" / "book"), help="where fig5_bottle.* are written")
    parser.add_argument("--checkpoint-pattern", default=None,
                        help="load trained checkpoints instead, e.g. runs/x/daad-r{rate}-seed0/checkpoint.pt")
    args = parser.parse_args()
    began = time.perf_counter()
    test_set = build_dataset("mvtec", "test", args.image_size, args.data_dir, "bottle")
    shown = chosen_images(test_set)
    images = torch.stack([test_set[i]["image"] for i in shown])  # (k, 3, S, S)
    rows, per_rate = [[image] for image in images], {}
    for rate in args.rates:
        detector, seconds = model_for(rate, args)
        with torch.no_grad():
            rebuilt = detector(images)
        for row, image in zip(rows, rebuilt):
            row.append(image)
        result = evaluate(detector, test_set)
        per_rate[rate] = {"image_auroc": result["image_auroc"], "pixel_auroc": result["pixel_auroc"],
                          "train_seconds": seconds}
    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(1.9 * len(rows[0]), 1.9 * len(rows)), squeeze=False)
    titles = ["input"] + [f"r = {rate}" for rate in args.rates]
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            show(axes[i, j], panel, titles[j] if i == 0 else "")
    fig.suptitle(f"DAAD on bottle at {args.image_size} px, {args.epochs} epochs: reconstructions by division rate")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "fig5_bottle.png", dpi=110)
    record = {**run_info(), "figure": "Fig. 5", "dataset": "MVTec AD bottle", "image_size": args.image_size,
              "epochs": args.epochs, "seed": args.seed, "precision": args.precision,
              "images": [test_set.items[i][0].relative_to(test_set.folder).as_posix() for i in shown],
              "rates": {str(r): v for r, v in per_rate.items()},
              "loaded_from": args.checkpoint_pattern, "total_wall_time_s": time.perf_counter() - began}
    (out / "fig5_bottle.json").write_text(json.dumps(record, indent=1) + "\n")
    table = ["| r_h = r_w | image AUROC | pixel AUROC | training time |", "|---|---|---|---|"]
    for r, v in per_rate.items():
        trained_for = "loaded" if args.checkpoint_pattern else f"{v['train_seconds'] / 60:.0f} min"
        table.append(f"| {r} | {v['image_auroc']:.3f} | {v['pixel_auroc']:.3f} | {trained_for} |")
    (out / "fig5_bottle.md").write_text(
        f"Fig. 5 on *bottle* ({args.image_size} px, {args.epochs} epochs, seed {args.seed}, {args.precision}; "
        f"`{record['command']}` at `{record['git_commit'][:10]}`):\n\n" + "\n".join(table) + "\n")
    print((out / "fig5_bottle.md").read_text())


if __name__ == "__main__":
    main()
