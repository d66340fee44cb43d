"""Table 2: one-class AUROC on MNIST and CIFAR-10, every class.

One class is normal: train on its training images, test on the whole test set
(the other nine classes anomalous), as in OCGAN (Perera et al. 2019).

    python -m experiments.table2 --protocol cpu2 [--datasets mnist cifar10] [--classes 0 1 ...] [--variants ae daad]

Images are 32x32 (MNIST resized from 28x28). The first CPU protocol ran AE and DAAD with
widths (32, 64, 128, 256) and rates (2, 2, 1) for 2 epochs; CPU protocol 2 runs AE, MemAE,
DAAD and DAAD+ with the library's size-aware defaults (a 2x2x32 bottleneck, rates (1, 1, 1):
blocks of 32x32 image pixels, the paper's block size) for the epochs at which the training
loss plateaus (``results/cpu2/plateau.md``).
"""
from __future__ import annotations

import time

from daad_lib.published import DAAD_TABLE2_OTHERS, DAAD_TABLE2_OURS

from .common import (PROTOCOLS, fmt, mean_std, oneclass_settings, parse_args, results_dir, run_once, save_figure,
                     subplots, write_outputs)

NAMES = {"ae": "AE", "memae": "MemAE*", "daad": "DAAD", "daad_plus": "DAAD+"}

PAPER = {dataset: {"daad": mean} for dataset, mean in DAAD_TABLE2_OURS.items()}  # "Ours"; means only
PAPER_OTHERS = DAAD_TABLE2_OTHERS  # other rows of the paper's Table 2, for scale
MODELS = {"cpu": {"ae": {}, "daad": {"rates": (2, 2, 1)}},
          "cpu2": {"ae": {}, "memae": {}, "daad": {}, "daad_plus": {}},
          "paper": {"ae": {}, "memae": {}, "daad": {}, "daad_plus": {}}}
CLASSES = {"mnist": [str(c) for c in range(10)],
           "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}


def extra(parser) -> None:
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--variants", nargs="+", default=None,
                        help="models to run (default: all of the protocol's); the table shows only these")


def plot(rows: dict, path) -> None:
    """Per-class AUROC bars (mean over seeds, std as error bars), one panel per dataset."""
    fig, axes = subplots(1, len(rows), figsize=(5.5 * len(rows), 3.4), squeeze=False)
    for ax, (dataset, models) in zip(axes[0], rows.items()):
        names = CLASSES[dataset]
        width = 0.8 / len(models)
        for k, (model, row) in enumerate(models.items()):
            stats = [row["per_class"].get(name, mean_std([])) for name in names]
            xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, [s["mean"] or 0 for s in stats], width, yerr=[s["std"] or 0 for s in stats],
                   label=NAMES.get(model, model.upper()), capsize=2)
        ax.axhline(PAPER[dataset]["daad"], color="gray", ls="--", label="paper, mean (\"Ours\")")
        ax.axhline(0.5, color="black", lw=0.5)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("image AUROC")
        ax.set_title(f"Table 2: {dataset}, normal class")
        ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def main() -> None:
    args = parse_args(__doc__, extra)
    began = time.perf_counter()
    settings, models = oneclass_settings(args.protocol), MODELS[args.protocol]  # settings: PROTOCOLS[...]['oneclass']
    unknown = set(args.variants or []) - set(models)
    if unknown:
        raise SystemExit(f"--variants {sorted(unknown)}: the {args.protocol} protocol has {sorted(models)}")
    models = {name: overrides for name, overrides in models.items() if name in (args.variants or models)}
    protocol = PROTOCOLS[args.protocol]
    tags = protocol.get("daad_tag", {})
    rows, used = {}, []
    for dataset in args.datasets:
        for model, overrides in models.items():
            per_class, by_seed = {}, {seed: [] for seed in settings["seeds"]}
            by_seed_recon, aligned = {seed: [] for seed in settings["seeds"]}, False  # R(x) alone, for DAAD+
            for normal in args.classes:
                done = [run_once(args.protocol, model, seed, dataset=dataset, normal_class=normal,
                                 image_size=settings["image_size"], epochs=settings["epochs"][dataset],
                                 data_dir=args.data_dir, cached_only=args.cached_only, store_scores=False,
                                 batch_size=settings.get("batch_size", 8), tag=tags.get(model, ""), **overrides)
                        for seed in settings["seeds"]]
                done = [r for r in done if r is not None]
                used += done
                per_class[CLASSES[dataset][normal]] = mean_std([r["image_auroc"] for r in done])
                for run in done:
                    by_seed[run["seed"]].append(run["image_auroc"])
                    by_seed_recon[run["seed"]].append(run["image_auroc_recon"])
                    aligned |= run.get("image_auroc_align") is not None
            rows.setdefault(dataset, {})[model] = {
                "per_class": per_class, "paper_mean": PAPER[dataset].get(model),
                "mean_over_classes": class_mean(by_seed, len(args.classes)),
                "classes_done": sum(c["n"] > 0 for c in per_class.values())}
            if aligned:  # A(x) fuses R and L (Eq. 7): how much of the mean is the reconstruction's
                rows[dataset][model]["mean_over_classes_recon_only"] = class_mean(by_seed_recon, len(args.classes))
    epochs = ", ".join(f"{d} {settings['epochs'][d]}" for d in args.datasets)
    lines = [f"### Table 2: one-class AUROC ({settings['image_size']} px, epochs: {epochs}, "
             f"seeds {settings['seeds']}, {args.protocol} protocol)", "",
             f"Mean over the {len(args.classes)} classes (± std over seeds of that mean):", "",
             "| dataset | " + " | ".join(NAMES.get(m, m.upper()) for m in models) + " | paper (\"Ours\") | "
             "paper: GANomaly / MemAE / OCGAN |",
             "|---" * (len(models) + 3) + "|"]
    for dataset, by_model in rows.items():
        cells = [fmt(row["mean_over_classes"]) for row in by_model.values()]
        others = " / ".join(f"{v:.3f}" for v in PAPER_OTHERS[dataset].values())
        lines.append(f"| {dataset} | " + " | ".join(cells) + f" | {PAPER[dataset]['daad']:.3f} | {others} |")
    lines.append("")
    for dataset, by_model in rows.items():
        names = CLASSES[dataset]
        lines += [f"**{dataset}**, per normal class (mean ± std over seeds)", "",
                  "| model | " + " | ".join(names) + " | mean |", "|---" * (len(names) + 2) + "|"]
        for model, row in by_model.items():
            cells = [fmt(row["per_class"].get(name, mean_std([]))) for name in names]
            lines.append(f"| {NAMES.get(model, model.upper())} | " + " | ".join(cells)
                         + f" | {fmt(row['mean_over_classes'])} |")
        lines.append("")
        for model, row in by_model.items():
            if row.get("mean_over_classes_recon_only", {}).get("n"):
                lines += [f"{NAMES.get(model, model.upper())} scored by its reconstruction score R(x) alone, without "
                          f"the alignment score of Eq. 7: mean {fmt(row['mean_over_classes_recon_only'])}.", ""]
    markdown = "\n".join(lines) + (
        "\nThe paper reports only the mean over classes, for its method (\"Ours\"), at an unstated number of "
        "epochs. It does not say whether \"Ours\" is DAAD or DAAD+; in its Table 1 \"Ours\" equals Table 3's "
        "DAAD+ column, so these are most likely DAAD+ numbers. The paper's MemAE row uses a different "
        "evaluation protocol (part of the test set only), as its footnote says.\n")
    plot(rows, results_dir(args.protocol) / "table2.png")
    write_outputs(args.protocol, "table2", {
        "table": "Table 2",
        "protocol_label": f"{args.protocol} protocol for Table 2 ({settings['image_size']} px, epochs: {epochs})",
        "dataset": "one-class " + " and ".join(args.datasets), "image_size": settings["image_size"],
        "epochs": settings["epochs"], "batch_size": settings.get("batch_size", 8), "seeds": settings["seeds"],
        "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for r in used), "rows": rows}, markdown)


def class_mean(by_seed: dict, n_classes: int) -> dict:
    """Mean ± std over seeds of the AUROC averaged over all classes (seeds missing a class are left out)."""
    return mean_std([sum(values) / n_classes for values in by_seed.values() if len(values) == n_classes])


if __name__ == "__main__":
    main()
