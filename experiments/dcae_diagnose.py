"""Why DCAE's own network misses the published number on some MNIST classes: one hypothesis per run.

    python -m experiments.dcae_diagnose --hypothesis budget --classes 6      # H1: AUROC at 50-350 epochs
    python -m experiments.dcae_diagnose --hypothesis size --classes 6        # H2: 28 px, no resize

The hypotheses, their runs and their readings were written down before the runs, in
``results/dcae/diagnose_rule.md``. Both train DCAE's network under the recipe of
``experiments.dcae`` (Deep SVDD's DCAE recipe), changing only what the hypothesis names. Results
go to ``results/dcae/diagnose_<hypothesis>.json/.md``, and each run's own file to ``results/dcae/runs/``.
"""
from __future__ import annotations

import argparse
import time

from daad_lib.checkpoint import load_detector
from daad_lib.evaluate import metrics_from_scores, score_dataset
from daad_lib.run import build_split
from daad_lib.train import kept_checkpoint_name

from .common import PROTOCOLS, checkpoint_folder, parse_args, run_name, write_outputs
from .dcae import one_run

PROTOCOL, VARIANT, SEED = "dcae", "dcae", 0
KEPT = (50, 100, 150, 250)  # H1's checkpoints; the final model is the 350th epoch's
THRESHOLD = 0.03  # a difference this large counts as a reading (diagnose_rule.md)


def extra(parser) -> None:
    parser.add_argument("--hypothesis", choices=["budget", "size"], required=True)
    parser.add_argument("--classes", type=int, nargs="+", default=[6])


def budget(normal_class: int, args) -> dict:
    """H1: the recipe's run with checkpoints kept at KEPT epochs; the AUROC of each and of the final model."""
    earlier = one_run("mnist", VARIANT, normal_class, SEED, argparse.Namespace(**{**vars(args), "cached_only": True}))
    run = one_run("mnist", VARIANT, normal_class, SEED, args, tag="keep", keep_epochs=KEPT)
    folder = checkpoint_folder(PROTOCOL, run_name("mnist", f"class{normal_class}", VARIANT, SEED, "keep"))
    by_epoch = {}
    for epoch in KEPT:
        detector, state = load_detector(folder / kept_checkpoint_name(epoch))
        scores = score_dataset(detector, build_split(state["dataset"], "test", args.data_dir))
        by_epoch[epoch] = metrics_from_scores(scores, detector.config.gamma)["image_auroc"]
    final_epoch = PROTOCOLS[PROTOCOL]["epochs"]
    by_epoch[final_epoch] = run["image_auroc"]
    best_earlier = max(by_epoch[e] for e in KEPT)
    return {"run": run["name"], "image_auroc_by_epoch": by_epoch,
            "determinism": {"earlier_run": earlier["image_auroc"] if earlier else None, "this_run": run["image_auroc"]},
            "reading": ("budget is a candidate" if best_earlier - by_epoch[final_epoch] >= THRESHOLD
                        else "no earlier epoch is better by the threshold: budget is not the explanation")}


def size(normal_class: int, args) -> dict:
    """H2: the recipe at MNIST's native 28 px against the stored 32 px run."""
    native = one_run("mnist", VARIANT, normal_class, SEED, args, tag="28px", image_size=28)
    resized = one_run("mnist", VARIANT, normal_class, SEED, args)
    difference = native["image_auroc"] - resized["image_auroc"]
    return {"runs": [native["name"], resized["name"]], "image_auroc_28px": native["image_auroc"],
            "image_auroc_32px": resized["image_auroc"], "difference": difference,
            "reading": "image size matters" if abs(difference) >= THRESHOLD else "image size does not explain it"}


def main() -> None:
    args = parse_args(__doc__, extra)
    began = time.perf_counter()
    rows = {c: (budget if args.hypothesis == "budget" else size)(c, args) for c in args.classes}
    lines = [f"# DCAE network, MNIST, seed {SEED}: hypothesis {args.hypothesis} (results/dcae/diagnose_rule.md)", ""]
    for c, row in rows.items():
        if args.hypothesis == "budget":
            lines += [f"## class {c}", "", "| epoch | image AUROC |", "|---|---|"]
            lines += [f"| {e} | {a:.3f} |" for e, a in row["image_auroc_by_epoch"].items()]
            lines += ["", f"Earlier 350-epoch run: {row['determinism']['earlier_run']}; this run: "
                      f"{row['determinism']['this_run']:.3f}. Reading: {row['reading']}.", ""]
        else:
            lines += [f"- class {c}: 28 px {row['image_auroc_28px']:.3f}, 32 px {row['image_auroc_32px']:.3f}, "
                      f"difference {row['difference']:+.3f}. Reading: {row['reading']}."]
    write_outputs(PROTOCOL, f"diagnose_{args.hypothesis}", {
        "what": f"DCAE network diagnostics, hypothesis {args.hypothesis}", "rule": "results/dcae/diagnose_rule.md",
        "seed": SEED, "threshold": THRESHOLD, "rows": rows, "wall_time_s": time.perf_counter() - began},
        "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
