"""bfloat16 autocast against float32 on MVTec AD bottle: may bf16 be the training default?

AE and DAAD (library defaults at 128 px), 25 epochs, seeds 0, 1, 2, once in each precision.

Rule, fixed before the runs: bf16 becomes the default precision if, for both models, the mean
image AUROC over seeds in bf16 differs from the fp32 mean by no more than the seed spread
(the larger of the two standard deviations over seeds). Otherwise fp32 stays the default.

    python -m experiments.precision
"""
from __future__ import annotations

import time

from .common import fmt, mean_std, parse_args, run_once, write_outputs

PROTOCOL = "cpu2"
EPOCHS, SEEDS, MODELS, PRECISIONS = 25, [0, 1, 2], ["ae", "daad"], ["fp32", "bf16"]
RULE = ("bf16 becomes the default if, for AE and DAAD, |mean AUROC bf16 - mean AUROC fp32| <= the larger "
        "of the two standard deviations over seeds; decided before the runs.")


def main() -> None:
    args = parse_args(__doc__)
    began = time.perf_counter()
    rows, passes = {}, []
    for model in MODELS:
        for precision in PRECISIONS:
            done = [run_once(PROTOCOL, model, seed, tag=precision, precision=precision, epochs=EPOCHS,
                             data_dir=args.data_dir, cached_only=args.cached_only) for seed in SEEDS]
            done = [r for r in done if r is not None]
            rows.setdefault(model, {})[precision] = {
                "image_auroc": mean_std([r["image_auroc"] for r in done]),
                "pixel_auroc": mean_std([r.get("pixel_auroc") for r in done]),
                "train_wall_time_s": mean_std([r["train_wall_time_s"] for r in done]),
                "runs": [r["name"] for r in done]}
        fp32, bf16 = rows[model]["fp32"]["image_auroc"], rows[model]["bf16"]["image_auroc"]
        if fp32["n"] == len(SEEDS) and bf16["n"] == len(SEEDS):
            gap, spread = abs(bf16["mean"] - fp32["mean"]), max(fp32["std"], bf16["std"])
            rows[model]["gap"], rows[model]["spread"] = gap, spread
            passes.append(gap <= spread)
    verdict = ("incomplete" if len(passes) < len(MODELS) else
               "bf16 is the default" if all(passes) else "fp32 stays the default")
    lines = [f"### bf16 against fp32 on MVTec AD *bottle* (128 px, {EPOCHS} epochs, seeds {SEEDS})", "",
             f"Rule: {RULE}", "",
             "| model | precision | image AUROC | pixel AUROC | train time / run |", "|---|---|---|---|---|"]
    for model, by_precision in rows.items():
        for precision in PRECISIONS:
            row = by_precision[precision]
            time_s = row["train_wall_time_s"]["mean"]
            lines.append(f"| {model.upper()} | {precision} | {fmt(row['image_auroc'])} | {fmt(row['pixel_auroc'])} | "
                         f"{'–' if time_s is None else f'{time_s:.0f} s'} |")
    lines += [""] + [f"{model.upper()}: |bf16 - fp32| = {row['gap']:.3f}, seed spread {row['spread']:.3f}."
                     for model, row in rows.items() if "gap" in row]
    lines += ["", f"**Verdict: {verdict}.**", ""]
    write_outputs(PROTOCOL, "precision_bottle", {
        "what": "bf16 autocast vs fp32 training", "dataset": "MVTec AD bottle", "image_size": 128,
        "epochs": EPOCHS, "batch_size": 8, "seeds": SEEDS, "rule": RULE, "verdict": verdict,
        "total_wall_time_s": time.perf_counter() - began, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
