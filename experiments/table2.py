"""Table 2: one-class AUROC on MNIST and CIFAR-10, every class, DAAD and AE.

One class is normal: train on its training images, test on the whole test set
(the other nine classes anomalous), as in OCGAN (Perera et al. 2019).

    python -m experiments.table2 --protocol cpu [--datasets mnist cifar10] [--classes 0 1 ...]

Images are 32x32 (MNIST padded by resizing from 28); with 16x downsampling the
bottleneck is 2x2, so DAAD uses rates (2, 2, 1).
"""
from __future__ import annotations

import time

from .common import fmt, mean_std, parse_args, run_once, write_outputs

PAPER = {"mnist": {"daad": 0.990}, "cifar10": {"daad": 0.753}}  # the paper gives means only
SETTINGS = {"cpu": {"image_size": 32, "epochs": 2, "seeds": [0, 1, 2]},
            "paper": {"image_size": 32, "epochs": 15, "seeds": [0, 1, 2]}}
MODELS = {"ae": {}, "daad": {"rates": (2, 2, 1)}}
CLASSES = {"mnist": [str(c) for c in range(10)],
           "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}


def extra(parser) -> None:
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))


def main() -> None:
    args = parse_args(__doc__, extra)
    began = time.perf_counter()
    settings = SETTINGS[args.protocol]
    rows, used = {}, []
    for dataset in args.datasets:
        for model, overrides in MODELS.items():
            per_class = {}
            for normal in args.classes:
                done = [run_once(args.protocol, model, seed, dataset=dataset, normal_class=normal,
                                 image_size=settings["image_size"], epochs=settings["epochs"],
                                 data_dir=args.data_dir, cached_only=args.cached_only, store_scores=False,
                                 **overrides) for seed in settings["seeds"]]
                done = [r for r in done if r is not None]
                used += done
                per_class[CLASSES[dataset][normal]] = mean_std([r["image_auroc"] for r in done])
            means = [c["mean"] for c in per_class.values() if c["mean"] is not None]
            rows.setdefault(dataset, {})[model] = {
                "per_class": per_class, "paper_mean": PAPER[dataset].get(model),
                "mean_over_classes": sum(means) / len(means) if means else None,
                "classes_done": len(means)}
    lines = [f"### Table 2: one-class AUROC ({settings['image_size']} px, {settings['epochs']} epochs, "
             f"seeds {settings['seeds']}, {args.protocol} protocol)", ""]
    for dataset, models in rows.items():
        names = CLASSES[dataset]
        lines += [f"**{dataset}**", "", "| model | " + " | ".join(names) + " | mean | paper |",
                  "|---" * (len(names) + 3) + "|"]
        for model, row in models.items():
            cells = [fmt(row["per_class"].get(name, mean_std([]))) for name in names]
            mean = "–" if row["mean_over_classes"] is None else f"{row['mean_over_classes']:.3f}"
            paper = "–" if row["paper_mean"] is None else f"{row['paper_mean']:.3f}"
            lines.append(f"| {model.upper()} | " + " | ".join(cells) + f" | {mean} | {paper} |")
        lines.append("")
    markdown = "\n".join(lines) + "\nThe paper reports only the mean over classes, for DAAD.\n"
    write_outputs(args.protocol, "table2", {
        "table": "Table 2", "image_size": settings["image_size"], "epochs": settings["epochs"],
        "batch_size": 8, "seeds": settings["seeds"], "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for r in used), "rows": rows}, markdown)


if __name__ == "__main__":
    main()
