"""Table 4 on MVTec AD bottle: DAAD with division rates r_h = r_w in {1, 2, 4, 8, 16}.

The same rates apply at every scale, so r must divide the 16x bottleneck: at
128 px (bottleneck 8x8) r = 16 is impossible and is reported as such.

    python -m experiments.table4 --protocol cpu
"""
from __future__ import annotations

import time

from daad_lib.published import DAAD_TABLE4_MEAN

from .common import (PROTOCOLS, fmt, mean_std, parse_args, results_dir,
                     run_once, save_figure, subplots, write_outputs)

PAPER_MEAN = DAAD_TABLE4_MEAN  # 15-category mean


def plot(rows: dict, path) -> None:
    fig, ax = subplots(figsize=(5, 3.3))
    ours = [(r, row["image_auroc"]["mean"]) for r, row in rows.items() if row["image_auroc"]["mean"] is not None]
    ax.plot([r for r, _ in ours], [v for _, v in ours], "o-", label="ours, bottle")
    ax.plot(list(PAPER_MEAN), list(PAPER_MEAN.values()), "s--", color="gray", label="paper, 15-category mean")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(PAPER_MEAN), [str(r) for r in PAPER_MEAN])
    ax.set_xlabel("division rate r_h = r_w")
    ax.set_ylabel("image AUROC")
    ax.set_title("Table 4: block size")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    args = parse_args(__doc__)
    began = time.perf_counter()
    settings = PROTOCOLS[args.protocol]
    size = settings["image_size"]
    seeds = settings["seeds"][:1]  # one seed per rate (Table 3 has the seed spread of r = 8)
    rows, runs = {}, []
    for rate in PAPER_MEAN:
        if (size // 16) % rate:
            rows[rate] = {"paper_mean_15": PAPER_MEAN[rate], "image_auroc": mean_std([]),
                          "pixel_auroc": mean_std([]),
                          "note": f"not possible at {size} px: the {size // 16}x{size // 16} bottleneck "
                                  f"cannot be divided into {rate}x{rate} blocks"}
            continue
        done = [run_once(args.protocol, "daad", seed, tag="" if rate == 8 else f"r{rate}",
                         rates=(rate, rate, 1), data_dir=args.data_dir, cached_only=args.cached_only)
                for seed in seeds]
        done = [r for r in done if r is not None]
        runs += done
        rows[rate] = {"paper_mean_15": PAPER_MEAN[rate],
                      "image_auroc": mean_std([r["image_auroc"] for r in done]),
                      "pixel_auroc": mean_std([r.get("pixel_auroc") for r in done]),
                      "seeds": seeds, "runs": [r["name"] for r in done]}
    lines = [f"### Table 4 on MVTec AD *bottle*: division rate ({size} px, {settings['epochs']} epochs, "
             f"seed {seeds}, {args.protocol} protocol)", "",
             "| r_h = r_w | paper (15-cat. mean) | ours: image AUROC | ours: pixel AUROC |", "|---|---|---|---|"]
    for rate, row in rows.items():
        lines.append(f"| {rate} | {row['paper_mean_15']:.3f} | {fmt(row['image_auroc'])}"
                     f"{' (' + row['note'] + ')' if 'note' in row else ''} | {fmt(row['pixel_auroc'])} |")
    markdown = "\n".join(lines) + "\n\nThe paper gives only the 15-category mean for this table.\n"
    plot(rows, results_dir(args.protocol) / "table4_bottle.png")
    write_outputs(args.protocol, "table4_bottle", {
        "table": "Table 4", "dataset": "MVTec AD bottle", "image_size": size, "epochs": settings["epochs"],
        "batch_size": 8, "seeds": seeds, "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for r in runs),
        "rows": {str(k): v for k, v in rows.items()}}, markdown)


if __name__ == "__main__":
    main()
