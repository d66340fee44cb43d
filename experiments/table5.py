"""Table 5 on MVTec AD bottle: adversarially learned representation for AE and DAAD.

Rows per generator: R(x) only; + L_adv; + L_adv + L_ali; scored by L(x) only;
scored by A(x) = 0.9 R(x) + 0.1 L(x). The last three rows share one trained model.

    python -m experiments.table5 --protocol cpu
"""
from __future__ import annotations

import time

from daad_lib.published import DAAD_TABLE5_MEAN

from .common import (PROTOCOLS, aurocs, fmt, mean_std, parse_args,
                     results_dir, run_once, save_figure, subplots, write_outputs)

ROWS = [  # (L_adv, L_ali, L(x), R(x))
    (False, False, False, True), (True, False, False, True), (True, True, False, True),
    (True, True, True, False), (True, True, True, True)]
PAPER_MEAN = DAAD_TABLE5_MEAN
NAMES = {"ae": "AE", "daad": "DAAD"}


def runs_for(protocol: str, generator: str, seed: int, data_dir, cached_only: bool) -> tuple:
    """The three trained models a generator's five rows need (None where not run)."""
    common = dict(data_dir=data_dir, cached_only=cached_only)
    plain = run_once(protocol, generator, seed, **common)
    adv = run_once(protocol, generator, seed, tag="adv", discriminator=True, adv_loss=True, lr=2e-4, **common)
    if generator == "daad":
        both = run_once(protocol, "daad_plus", seed, **common)  # DAAD+ is DAAD + L_adv + L_ali
    else:
        both = run_once(protocol, generator, seed, tag="adv-ali", discriminator=True, adv_loss=True,
                        ali_loss=True, gamma=0.9, lr=2e-4, **common)
    return plain, adv, both


def row_values(plain: dict | None, adv: dict | None, both: dict | None) -> list[float | None]:
    recon = lambda run: aurocs(run, 1.0)["image_auroc_recon"] if run else None
    return [recon(plain), recon(adv), recon(both),
            aurocs(both, 0.9)["image_auroc_align"] if both else None,
            aurocs(both, 0.9)["image_auroc"] if both else None]


ROW_LABELS = ["R(x)", "+L_adv\nR(x)", "+L_adv+L_ali\nR(x)", "+L_adv+L_ali\nL(x)", "+L_adv+L_ali\nA(x)"]


def plot(table: dict, path) -> None:
    """Ours (bottle) beside the paper's 15-category mean, one panel per generator."""
    fig, axes = subplots(1, len(table), figsize=(5.2 * len(table), 3.4), sharey=True, squeeze=False)
    for ax, (generator, rows) in zip(axes[0], table.items()):
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [row["image_auroc"]["mean"] or 0 for row in rows], 0.4, label="ours, bottle")
        ax.bar([x + 0.2 for x in xs], [row["paper_mean_15"] for row in rows], 0.4, color="gray",
               label="paper, 15-category mean")
        ax.set_xticks(list(xs), ROW_LABELS, fontsize=7)
        ax.set_ylim(0.5, 1)
        ax.set_title(f"Table 5: {NAMES[generator]}")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("image AUROC")
    save_figure(fig, path)


def main() -> None:
    args = parse_args(__doc__)
    began = time.perf_counter()
    settings = PROTOCOLS[args.protocol]
    seeds = settings["seeds"][:1]
    table, used = {}, []
    for generator in ("ae", "daad"):
        per_seed = []
        for seed in seeds:
            runs = runs_for(args.protocol, generator, seed, args.data_dir, args.cached_only)
            used += [r for r in runs if r is not None]
            per_seed.append(row_values(*runs))
        table[generator] = [{"l_adv": a, "l_ali": b, "score_l": c, "score_r": d,
                             "paper_mean_15": PAPER_MEAN[generator][i],
                             "image_auroc": mean_std([values[i] for values in per_seed])}
                            for i, (a, b, c, d) in enumerate(ROWS)]
    tick = lambda flag: "✓" if flag else ""
    lines = [f"### Table 5 on MVTec AD *bottle* ({settings['image_size']} px, {settings['epochs']} epochs, "
             f"seed {seeds}, {args.protocol} protocol)", "",
             "| generator | L_adv | L_ali | L(x) | R(x) | paper (15-cat. mean) | ours: image AUROC |",
             "|---|---|---|---|---|---|---|"]
    for generator, rows in table.items():
        for row in rows:
            lines.append(f"| {NAMES[generator]} | {tick(row['l_adv'])} | {tick(row['l_ali'])} | "
                         f"{tick(row['score_l'])} | {tick(row['score_r'])} | {row['paper_mean_15']:.3f} | "
                         f"{fmt(row['image_auroc'])} |")
    markdown = "\n".join(lines) + "\n\nThe paper gives only the 15-category mean for this table.\n"
    unique = {r["name"]: r for r in used}
    plot(table, results_dir(args.protocol) / "table5_bottle.png")
    write_outputs(args.protocol, "table5_bottle", {
        "table": "Table 5", "dataset": "MVTec AD bottle", "image_size": settings["image_size"],
        "epochs": settings["epochs"], "batch_size": 8, "seeds": seeds, "gamma": 0.9,
        "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for r in unique.values()),
        "runs": sorted(unique), "rows": table}, markdown)


if __name__ == "__main__":
    main()
