"""Fig. 6 on MVTec AD bottle: anomaly score against defect area, DAAD vs DAAD+.

The area is the fraction of the image covered by the ground-truth mask (0 for
good images); scores are A(x) min-max scaled over the test set (Eq. 7).

    python -m experiments.fig6 --protocol cpu
"""
from __future__ import annotations

import time

import torch

from daad_lib.scoring import fuse

from .common import PROTOCOLS, parse_args, results_dir, run_once, save_figure, subplots, write_outputs


def scaled_scores(run: dict, gamma: float) -> list[float]:
    align = torch.tensor(run["align"]) if run.get("align") is not None else None
    return fuse(torch.tensor(run["recon"]), align, gamma).tolist()


def main() -> None:
    args = parse_args(__doc__)
    began = time.perf_counter()
    seed = PROTOCOLS[args.protocol]["seeds"][0]
    runs = {"DAAD": run_once(args.protocol, "daad", seed, data_dir=args.data_dir, cached_only=args.cached_only),
            "DAAD+": run_once(args.protocol, "daad_plus", seed, data_dir=args.data_dir,
                              cached_only=args.cached_only)}
    if None in runs.values():
        print("fig6: DAAD and DAAD+ (seed 0) are not both stored yet; nothing written")
        return
    points = {name: {"area": run["defect_area"], "label": run["labels"],
                     "score": scaled_scores(run, run["model_config"]["gamma"])} for name, run in runs.items()}

    fig, axes = subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, (name, p) in zip(axes, points.items()):
        normal = [s for s, l in zip(p["score"], p["label"]) if l == 0]
        defect = [(a * 100, s) for a, s, l in zip(p["area"], p["score"], p["label"]) if l == 1]
        ax.scatter([0] * len(normal), normal, c="tab:green", s=14, label="good")
        ax.scatter([a for a, _ in defect], [s for _, s in defect], c="tab:red", s=14, label="defective")
        ax.set_xlabel("defect area (% of image)")
        ax.set_title(f"{name}: image AUROC {runs[name]['image_auroc']:.3f}")
    axes[0].set_ylabel("anomaly score A(x)")
    axes[0].legend(fontsize=8)
    save_figure(fig, results_dir(args.protocol) / "fig6_bottle.png")

    summary = {name: {"image_auroc": runs[name]["image_auroc"],
                      "mean_score_good": sum(s for s, l in zip(p["score"], p["label"]) if l == 0)
                      / max(1, p["label"].count(0)),
                      "mean_score_defective": sum(s for s, l in zip(p["score"], p["label"]) if l == 1)
                      / max(1, p["label"].count(1))} for name, p in points.items()}
    lines = ["### Fig. 6 on MVTec AD *bottle*: score vs defect area", "",
             "| model | image AUROC | mean A(x), good | mean A(x), defective |", "|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['image_auroc']:.3f} | {s['mean_score_good']:.3f} | "
                     f"{s['mean_score_defective']:.3f} |")
    markdown = "\n".join(lines) + "\n\nThe paper shows this plot for *leather* (not available here).\n"
    write_outputs(args.protocol, "fig6_bottle", {
        "figure": "Fig. 6", "dataset": "MVTec AD bottle", "seed": seed,
        "image_size": runs["DAAD"]["image_size"], "epochs": runs["DAAD"]["epochs"],
        "total_wall_time_s": time.perf_counter() - began,
        "runs": [r["name"] for r in runs.values()], "summary": summary, "points": points}, markdown)


if __name__ == "__main__":
    main()
