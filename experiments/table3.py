"""Table 3 on MVTec AD bottle: AE, MemAE, AE+Skip, DAAD, DAAD+ (image and pixel AUROC).

    python -m experiments.table3 --protocol cpu
"""
from __future__ import annotations

import time

from .common import (PROTOCOLS, fmt, mean_std, parse_args, results_dir,
                     run_once, save_figure, subplots, write_outputs)

PAPER_BOTTLE = {"ae": 0.955, "memae": 0.954, "ae_skip": 0.713, "daad": 0.975, "daad_plus": 0.976}
PAPER_MEAN = {"ae": 0.794, "memae": 0.802, "ae_skip": 0.736, "daad": 0.845, "daad_plus": 0.895}
NAMES = {"ae": "AE", "memae": "MemAE*", "ae_skip": "AE+Skip", "daad": "DAAD", "daad_plus": "DAAD+"}


def done_any(row: dict) -> bool:
    return row["train_wall_time_s"]["n"] > 0


def plot(rows: dict, path) -> None:
    variants = list(rows)
    fig, ax = subplots(figsize=(6, 3.5))
    xs = range(len(variants))
    ax.bar(xs, [rows[v]["image_auroc"]["mean"] or 0 for v in variants],
           yerr=[rows[v]["image_auroc"]["std"] or 0 for v in variants], color="tab:blue", alpha=0.7,
           capsize=4, label="ours (mean ± std over seeds)")
    ax.scatter(xs, [PAPER_BOTTLE[v] for v in variants], color="black", marker="_", s=400, zorder=3,
               label="paper (bottle)")
    ax.set_xticks(list(xs), [NAMES[v] for v in variants])
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("image AUROC")
    ax.set_title("Table 3 on MVTec AD bottle")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def main() -> None:
    args = parse_args(__doc__, lambda parser: parser.add_argument(
        "--variants", nargs="+", default=list(PAPER_BOTTLE)))
    began = time.perf_counter()
    settings = PROTOCOLS[args.protocol]
    rows, runs = {}, {}
    for seed in settings["seeds"]:
        for variant in args.variants:
            run = run_once(args.protocol, variant, seed, data_dir=args.data_dir, cached_only=args.cached_only)
            runs.setdefault(variant, [])
            if run is not None:
                runs[variant].append(run)
    for variant, done in runs.items():
        rows[variant] = {
            "paper_bottle": PAPER_BOTTLE[variant], "paper_mean_15": PAPER_MEAN[variant],
            "image_auroc": mean_std([r["image_auroc"] for r in done]),
            "pixel_auroc": mean_std([r.get("pixel_auroc") for r in done]),
            "train_wall_time_s": mean_std([r["train_wall_time_s"] for r in done]),
            "seeds_missing": [s for s in settings["seeds"] if s not in [r["seed"] for r in done]],
            "seeds": [r["seed"] for r in done], "runs": [r["name"] for r in done]}
    lines = [f"### Table 3 on MVTec AD *bottle* ({settings['image_size']} px, {settings['epochs']} epochs, "
             f"seeds {settings['seeds']}, {args.protocol} protocol)", "",
             "| model | paper, bottle | paper, 15-cat. mean | ours: image AUROC | ours: pixel AUROC | seeds run | train time / run |",
             "|---|---|---|---|---|---|---|"]
    for variant, row in rows.items():
        lines.append(f"| {NAMES[variant]} | {row['paper_bottle']:.3f} | {row['paper_mean_15']:.3f} | "
                     f"{fmt(row['image_auroc'])} | {fmt(row['pixel_auroc'])} | {len(row['seeds'])} of "
                     f"{len(settings['seeds'])} | "
                     f"{'–' if not done_any(row) else format(row['train_wall_time_s']['mean'], '.0f') + ' s'} |")
    markdown = "\n".join(lines) + "\n\nThe paper reports no pixel AUROC.\n"
    plot(rows, results_dir(args.protocol) / "table3_bottle.png")
    write_outputs(args.protocol, "table3_bottle", {
        "table": "Table 3", "dataset": "MVTec AD bottle", "image_size": settings["image_size"],
        "epochs": settings["epochs"], "batch_size": 8, "seeds": settings["seeds"],
        "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for done in runs.values() for r in done),
        "rows": rows}, markdown)


if __name__ == "__main__":
    main()
