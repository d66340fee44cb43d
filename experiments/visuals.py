"""Trained models, visible: reconstructions, anomaly maps and ROC curves from their checkpoints.

    python -m experiments.visuals --name bottle_ep1000 --protocol cpu2 \\
        --checkpoint AE=runs/experiments/cpu2/<ae run>/checkpoint_epoch1000.pt \\
        --checkpoint DAAD=runs/experiments/cpu2/<daad run>/checkpoint_epoch1000.pt

Every checkpoint must have been trained on the same data at the same image size; the test split
is rebuilt from the checkpoints' own dataset record (``--data-dir`` only says where the data
lies). Which test images are shown is fixed by a rule, not picked by eye: the first image, in
sorted file order, of the normal test images and of every defect type.

Writes, beside the other results of ``--protocol`` (small files, committed):

* ``visuals_<name>.png``: one row per shown image; columns input, ground-truth mask, then each
  model's reconstruction and anomaly map. A model's maps share one colour scale (0 to the 99th
  percentile of its maps over the whole test set), so a row can be compared with the others;
* ``roc_<name>.png``: each model's image-level ROC curve of A(x) (Eq. 7) over the test set;
* ``visuals_<name>.json``: provenance, every checkpoint's path, sha256 and epoch, the shown
  images with each model's R(x) and A(x), each model's AUROC, ROC points and per-type AUROCs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from daad_lib.checkpoint import load_detector  # noqa: E402
from daad_lib.evaluate import metrics_by_type, score_dataset  # noqa: E402
from daad_lib.metrics import image_auroc  # noqa: E402
from daad_lib.pretrained import sha256_of  # noqa: E402
from daad_lib.provenance import results_info  # noqa: E402
from daad_lib.run import build_split  # noqa: E402
from daad_lib.scoring import fuse, score_batch  # noqa: E402
from daad_lib.viz import show  # noqa: E402

from .common import results_dir  # noqa: E402

ROC_POINTS = 200  # at most this many (FPR, TPR) points per curve are stored


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", required=True, metavar="LABEL=PATH",
                        help="a model to show, e.g. AE=runs/.../checkpoint_epoch1000.pt (repeat per model)")
    parser.add_argument("--name", required=True, help="the files are visuals_<name>.png/.json, roc_<name>.png")
    parser.add_argument("--protocol", default="cpu2", help="results/<protocol>/ receives the files")
    parser.add_argument("--data-dir", default=None,
                        help="where the checkpoints' dataset lies (default: the folder they were trained from)")
    parser.add_argument("--out", type=Path, default=None, help="another folder for the files (default: results/<protocol>)")
    parser.add_argument("--overwrite", action="store_true", help="replace files of the same --name")
    return parser.parse_args(argv)


def parse_checkpoints(entries: list[str]) -> dict[str, Path]:
    """``["AE=path", ...]`` -> ``{"AE": Path(path)}``; a clear error for a malformed or missing entry."""
    models = {}
    for entry in entries:
        label, sep, path = entry.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--checkpoint takes LABEL=PATH, got {entry!r}")
        if label in models:
            raise SystemExit(f"--checkpoint label {label!r} given twice")
        if not Path(path).is_file():
            raise SystemExit(f"--checkpoint {label}: no file {path}")
        models[label] = Path(path)
    return models


def common_dataset(states: dict[str, dict]) -> dict:
    """The dataset record every checkpoint shares; an error naming the odd one out otherwise."""
    (first_label, first), *rest = states.items()
    for label, state in rest:
        for key in ("name", "category", "image_size", "normal_class", "data_dir"):
            if state["dataset"].get(key) != first["dataset"].get(key):
                raise SystemExit(f"checkpoints {first_label} and {label} were trained on different data "
                                 f"({key}: {first['dataset'].get(key)!r} against {state['dataset'].get(key)!r})")
    return first["dataset"]


def shown_indices(types: list[str | None]) -> list[tuple[str, int]]:
    """The rule for what is shown: the first test image of the normal ones and of every defect type."""
    rows = [("good", types.index(None))] if None in types else []
    return rows + [(name, types.index(name)) for name in sorted({t for t in types if t is not None})]


def roc_points(labels: torch.Tensor, scores: torch.Tensor) -> dict:
    fpr, tpr, _ = roc_curve(labels.numpy(), scores.numpy())
    keep = torch.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().long().unique()  # (k,) indices
    return {"fpr": fpr[keep.numpy()].round(4).tolist(), "tpr": tpr[keep.numpy()].round(4).tolist()}


@torch.no_grad()
def model_outputs(detector, test_set, indices: list[int]) -> dict:
    """Scores over the whole test set and the reconstructions and maps of the shown images."""
    scores = score_dataset(detector, test_set, device="cpu")
    fused = fuse(scores["recon"], scores["align"], detector.config.gamma)  # (n,) A(x), Eq. 7
    items = [test_set[i] for i in indices]
    images = torch.stack([item["image"] for item in items])  # (k, C, S, S)
    valid = torch.stack([item["valid"] for item in items]) if "valid" in items[0] else None  # (k, S, S) padded inputs
    shown = score_batch(detector, images, valid=valid)
    return {"scores": scores, "fused": fused, "x_hat": shown["x_hat"], "maps": shown["map"],
            "map_scale": float(np.quantile(scores["maps"].float().numpy(), 0.99))}


def draw_map(ax, amap: torch.Tensor, scale: float, title: str) -> None:
    """An (H, W) anomaly map on the model's fixed colour scale [0, scale]."""
    ax.imshow(amap.float().numpy(), cmap="inferno", vmin=0, vmax=scale)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def grid_figure(test_set, rows: list[tuple[str, int]], outputs: dict[str, dict]) -> plt.Figure:
    columns = ["input", "mask"] + [f"{label} {part}" for label in outputs for part in ("reconstruction", "map")]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.7 * len(columns), 1.8 * len(rows)), squeeze=False)
    for r, (kind, index) in enumerate(rows):
        item = test_set[index]
        show(axes[r, 0], item["image"], kind if r else f"input\n{kind}")
        show(axes[r, 1], item.get("mask", torch.zeros(item["image"].shape[1:])).float(), "mask" if r == 0 else "")
        for m, (label, out) in enumerate(outputs.items()):
            show(axes[r, 2 + 2 * m], out["x_hat"][r], f"{label}\nreconstruction" if r == 0 else "")
            draw_map(axes[r, 3 + 2 * m], out["maps"][r], out["map_scale"], f"{label}\nmap" if r == 0 else "")
    fig.tight_layout()
    return fig


def roc_figure(curves: dict[str, dict], aurocs: dict[str, float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    for label, curve in curves.items():
        ax.plot(curve["fpr"], curve["tpr"], label=f"{label} (AUROC {aurocs[label]:.3f})")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="image-level ROC, A(x)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    paths = parse_checkpoints(args.checkpoint)
    out_dir = args.out or results_dir(args.protocol)
    outputs_of_name = [out_dir / f"{stem}_{args.name}.{ext}" for stem, ext in (("visuals", "png"), ("roc", "png"),
                                                                                ("visuals", "json"))]
    if not args.overwrite and any(path.exists() for path in outputs_of_name):
        raise SystemExit(f"{out_dir} already holds the files of --name {args.name}: "
                         "choose another name or pass --overwrite")
    loaded = {label: load_detector(path) for label, path in paths.items()}  # label -> (detector, state)
    spec = common_dataset({label: state for label, (_, state) in loaded.items()})
    test_set = build_split(spec, "test", args.data_dir)  # without --data-dir: where the checkpoint's data lay
    types = getattr(test_set, "types", None) or [None if label == 0 else "anomalous" for label in test_set.labels]
    rows = shown_indices(types)
    indices = [index for _, index in rows]
    outputs = {label: model_outputs(detector, test_set, indices) for label, (detector, _) in loaded.items()}
    labels = outputs[next(iter(outputs))]["scores"]["labels"]
    aurocs = {label: image_auroc(out["fused"], labels) for label, out in outputs.items()}
    curves = {label: roc_points(labels, out["fused"]) for label, out in outputs.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for figure, stem in ((grid_figure(test_set, rows, outputs), "visuals"), (roc_figure(curves, aurocs), "roc")):
        figure.savefig(out_dir / f"{stem}_{args.name}.png", dpi=90)
        plt.close(figure)
    report = {
        **results_info(None if argv is None else [__file__, *argv]), "what": "reconstructions, anomaly maps and ROC curves of trained checkpoints",
        "dataset": spec, "num_test_images": len(test_set),
        "shown_rule": "the first test image, in sorted file order, of the normal images and of every defect type",
        "models": {label: {"checkpoint": str(paths[label]), "sha256": sha256_of(paths[label]),
                           "epoch": state["epoch"], "variant": state["model_config"]["variant"],
                           "train_config": state["train_config"], "image_auroc": aurocs[label],
                           "roc": curves[label], "map_colour_scale": outputs[label]["map_scale"],
                           "by_defect_type": metrics_by_type(outputs[label]["scores"], detector.config.gamma, types)}
                   for label, (detector, state) in loaded.items()},
        "shown": [{"type": kind, "index": index, "file": str(test_set.items[index][0].name),
                   "scores": {label: {"R": float(out["scores"]["recon"][index]), "A": float(out["fused"][index])}
                              for label, out in outputs.items()}} for kind, index in rows]}
    (out_dir / f"visuals_{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out_dir}/visuals_{args.name}.png, roc_{args.name}.png, visuals_{args.name}.json: "
          + ", ".join(f"{label} AUROC {value:.3f}" for label, value in aurocs.items()))
    return report


if __name__ == "__main__":
    main()
