"""Table 3 on MVTec-layout data: AE, MemAE, AE+Skip, DAAD, DAAD+ (image and pixel metrics).

    python -m experiments.table3 --protocol cpu                              # MVTec AD bottle
    python -m experiments.table3 --protocol cpu2 --subset magnetic_tile      # magnetic-tile defects

``--subset`` is an MVTec AD category under <data>/mvtec_ad, or ``magnetic_tile`` (its own folder
in the MVTec layout). The paper has numbers for MVTec AD only; pixel AUROC, AUPRO and F1-max are
ours (the paper reports image AUROC only).
"""
from __future__ import annotations

import json
import time

from daad_lib.published import DAAD_TABLE3_BOTTLE, DAAD_TABLE3_MEAN

from .common import (MAGNETIC_TILE, PROTOCOLS, fmt, mean_std, paired_difference, parse_args, results_dir, run_once, save_figure,
                     subset_location, subplots, write_outputs)

PAPER_BOTTLE, PAPER_MEAN = DAAD_TABLE3_BOTTLE, DAAD_TABLE3_MEAN
NAMES = {"ae": "AE", "memae": "MemAE*", "ae_skip": "AE+Skip", "daad": "DAAD", "daad_plus": "DAAD+"}


PEERS = {"ganomaly": "GANomaly (anomalib), measured peer"}  # experiments/peer_ganomaly.py, results/peers/


def measured_peers(subset: str) -> dict:
    """Rows of the peers measured on this subset (``results/peers/<peer>_<subset>_seed*.json``)."""
    rows = {}
    for peer in PEERS:
        done = [json.loads(p.read_text()) for p in sorted(results_dir("peers").glob(f"{peer}_{subset}_seed*.json"))]
        if done:
            rows[peer] = {"image_auroc": mean_std([r["image_auroc"] for r in done]), "seeds": [r["seed"] for r in done],
                          "epochs": sorted({r["epochs"] for r in done}), "image_size": sorted({r["image_size"] for r in done}),
                          "train_wall_time_s": mean_std([r["train_time_s"] for r in done]),
                          "runs": [r["name"] for r in done], "source": "experiments/peer_ganomaly.py, results/peers/rule.md"}
    return rows


def done_any(row: dict) -> bool:
    return row["train_wall_time_s"]["n"] > 0


def plot(rows: dict, path, subset: str, peers: dict) -> None:
    variants = list(rows)
    fig, ax = subplots(figsize=(6, 3.5))
    xs = range(len(variants))
    ax.bar(xs, [rows[v]["image_auroc"]["mean"] or 0 for v in variants],
           yerr=[rows[v]["image_auroc"]["std"] or 0 for v in variants], color="tab:blue", alpha=0.7,
           capsize=4, label="ours (mean ± std over seeds)")
    if subset == "bottle":
        ax.scatter(xs, [PAPER_BOTTLE[v] for v in variants], color="black", marker="_", s=400, zorder=3,
                   label="paper (bottle)")
    for peer, row in peers.items():
        ax.axhline(row["image_auroc"]["mean"], color="tab:red", linestyle="--", linewidth=1,
                   label=f"{PEERS[peer].split(',')[0]}, measured")
    ax.set_xticks(list(xs), [NAMES[v] for v in variants])
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("image AUROC")
    ax.set_title(f"Table 3 on {'MVTec AD ' if subset != MAGNETIC_TILE else ''}{subset.replace('_', ' ')}")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def signed(stat: dict) -> str:
    """A difference as +0.017, or +0.017 ± 0.005 over more than one seed."""
    return f"{stat['mean']:+.3f}" + (f" ± {stat['std']:.3f}" if stat["n"] > 1 else "")


METRICS = (("image_auroc", "image AUROC"), ("pixel_auroc", "pixel AUROC"), ("pixel_aupro", "pixel AUPRO"),
           ("image_f1_max", "image F1-max"), ("pixel_f1_max", "pixel F1-max"))


def main() -> None:
    args = parse_args(__doc__, lambda parser: (
        parser.add_argument("--variants", nargs="+", default=list(PAPER_BOTTLE)),
        parser.add_argument("--subset", default="bottle", help="MVTec AD category or magnetic_tile"),
        parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the protocol's")))
    began = time.perf_counter()
    settings = PROTOCOLS[args.protocol]
    seeds = args.seeds or settings["seeds"]
    tags = settings.get("daad_tag", {})  # block-memory variants share the addressing study's runs
    rows, runs = {}, {}
    for seed in seeds:
        for variant in args.variants:
            run = run_once(args.protocol, variant, seed, tag=tags.get(variant, ""), cached_only=args.cached_only,
                           **subset_location(args.subset, args.data_dir))
            runs.setdefault(variant, [])
            if run is not None:
                runs[variant].append(run)
    for variant, done in runs.items():
        rows[variant] = {
            "paper_bottle": PAPER_BOTTLE[variant] if args.subset == "bottle" else None,
            "paper_mean_15": PAPER_MEAN[variant],
            **{key: mean_std([r.get(key) for r in done]) for key, _ in METRICS},
            "train_wall_time_s": mean_std([r["train_wall_time_s"] for r in done]),
            "seeds_missing": [s for s in seeds if s not in [r["seed"] for r in done]],
            "seeds": [r["seed"] for r in done], "runs": [r["name"] for r in done]}
    by_seed = {v: {r["seed"]: r["image_auroc"] for r in done} for v, done in runs.items()}
    versus_ae = {v: paired_difference(by_seed[v], by_seed["ae"]) for v in by_seed if v != "ae" and "ae" in by_seed}
    shown = [(key, label) for key, label in METRICS if any(row[key]["n"] for row in rows.values())]
    paper_columns = "| paper, bottle " if args.subset == "bottle" else ""
    title = "MVTec AD *bottle*" if args.subset == "bottle" else f"*{args.subset.replace('_', ' ')}*"
    lines = [f"### Table 3 on {title} ({settings['image_size']} px, {settings['epochs']} epochs, "
             f"seeds {seeds}, {args.protocol} protocol)", "",
             f"| model {paper_columns}| paper, 15-cat. mean | " + " | ".join(f"ours: {label}" for _, label in shown)
             + " | seeds run | train time / run |",
             "|---" * (4 + len(shown) + bool(paper_columns)) + "|"]
    for variant, row in rows.items():
        paper = f"| {row['paper_bottle']:.3f} " if paper_columns else ""
        lines.append(f"| {NAMES[variant]} {paper}| {row['paper_mean_15']:.3f} | "
                     + " | ".join(fmt(row[key]) for key, _ in shown)
                     + f" | {len(row['seeds'])} of {len(seeds)} | "
                     f"{'–' if not done_any(row) else format(row['train_wall_time_s']['mean'], '.0f') + ' s'} |")
    peers = measured_peers(args.subset)
    for peer, row in peers.items():
        blanks = " | ".join(fmt(row["image_auroc"]) if key == "image_auroc" else "–" for key, _ in shown)
        lines.append(f"| {PEERS[peer]} {'| – ' if paper_columns else ''}| – | {blanks} | {len(row['seeds'])} "
                     f"(seeds {row['seeds']}) | {row['train_wall_time_s']['mean']:.0f} s |")
    note = "The paper reports image AUROC only." if args.subset == "bottle" else (
        "The paper has no results on this dataset; its 15-category MVTec AD mean is shown for scale. "
        "It reports image AUROC only.")
    if peers:
        note += (" The peer row is anomalib's model with its defaults, trained and scored by us on this split "
                 "(experiments/peer_ganomaly.py; settings fixed before its runs in results/peers/rule.md; "
                 f"{', '.join(f'{e} epochs' for row in peers.values() for e in row['epochs'])}, "
                 f"{', '.join(f'{s} px' for row in peers.values() for s in row['image_size'])}): "
                 "it reports image AUROC only, and its train time is on the hardware its results file names.")
    paired = [f"{NAMES[v]} − AE {signed(d)} (seeds {d['seeds']}: {', '.join(f'{x:+.3f}' for x in d['per_seed'])})"
              for v, d in versus_ae.items() if d["n"]]
    if paired:
        note += " Image AUROC against the AE, paired by seed: " + "; ".join(paired) + "."
    markdown = "\n".join(lines) + f"\n\n{note}\n"
    stem = f"table3_{args.subset}"
    plot(rows, results_dir(args.protocol) / f"{stem}.png", args.subset, peers)
    write_outputs(args.protocol, stem, {
        "table": "Table 3", "dataset": args.subset, "image_size": settings["image_size"],
        "epochs": settings["epochs"], "batch_size": 8, "seeds": seeds,
        "total_wall_time_s": time.perf_counter() - began,
        "runs_wall_time_s": sum(r["wall_time_s"] for done in runs.values() for r in done),
        "rows": rows, "image_auroc_minus_ae": versus_ae, "measured_peers": peers}, markdown)


if __name__ == "__main__":
    main()
