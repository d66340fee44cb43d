"""The experiments' pre-registered decision rules, on synthetic summaries (no training)."""
import pytest
import torch

from experiments.addressing import DATASETS, RULES, verdict


def summary_of(qualifies: dict, runs_per_rule=None) -> dict:
    """A study summary in which rule ``r`` on dataset ``d`` qualifies as ``qualifies[d][r]``."""
    return {d: {r: {"qualifies": q, "runs": (runs_per_rule or {}).get(d, len(DATASETS[d]["classes"]))}
                for r, q in rules.items()} for d, rules in qualifies.items()}


def test_addressing_default_waits_while_a_rule_can_still_qualify():
    decision = verdict(summary_of({"bottle": {r: r == "dot-shrink" for r in RULES}}))
    assert not decision["decided"] and decision["default"] is None
    assert decision["provisional_default"] == "dot-shrink"


def test_addressing_default_is_final_once_every_rule_failed_somewhere():
    decision = verdict(summary_of({"bottle": {r: False for r in RULES}}))
    assert decision["decided"] and not decision["complete"]
    assert decision["default"] == "cosine" and sorted(decision["failed_rules"]) == sorted(RULES)


def test_addressing_complete_study_prefers_the_rule_closest_to_the_paper():
    qualifies = {d: {r: r != "cosine" for r in RULES} for d in DATASETS}
    decision = verdict(summary_of(qualifies))
    assert decision["complete"] and decision["default"] == "cosine-t0.1"


def test_pair_aurocs_split_the_one_class_auroc_by_anomalous_class():
    import torch
    from sklearn.metrics import roc_auc_score

    from experiments.anomaly_classes import pair_aurocs
    classes = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    recon = torch.tensor([0.2, 0.4, 0.3, 0.1, 0.05, 0.9, 0.35, 0.8])  # class 1 rebuilt better than normal 0
    pairs = pair_aurocs(recon, classes, normal=0)
    assert set(pairs) == {1, 2}
    assert pairs[1] == 0.0  # every 1 scores below every normal image
    keep = (classes == 0) | (classes == 2)
    assert pairs[2] == roc_auc_score((classes[keep] == 2).int().numpy(), recon[keep].numpy())


def test_defect_type_split_ranks_by_the_score_table3_reports():
    """The split by defect type uses A(x) (Eq. 7) as the run's image AUROC did, so for DAAD+
    it is not R(x) alone: with every defect type pooled it gives back the stored AUROC."""
    import torch
    from sklearn.metrics import roc_auc_score

    from daad_lib.evaluate import metrics_from_scores
    from experiments.anomaly_classes import detection_score
    labels = [0, 0, 0, 1, 1, 1]
    recon = [0.10, 0.20, 0.30, 0.15, 0.25, 0.35]  # R(x) alone: AUROC 6/9
    align = [0.1, 0.2, 0.3, 0.9, 0.8, 0.7]  # L(x) separates; so does A(x)
    run = {"labels": labels, "recon": recon, "align": align, "model_config": {"gamma": 0.5}}
    stored = metrics_from_scores({"labels": torch.tensor(labels), "recon": torch.tensor(recon),
                                  "align": torch.tensor(align)}, 0.5)["image_auroc"]
    assert roc_auc_score(labels, detection_score(run).numpy()) == stored == 1.0
    assert roc_auc_score(labels, recon) != stored  # R(x) alone would rank differently
    without_align = detection_score({**run, "align": None}).numpy()
    assert roc_auc_score(labels, without_align) == roc_auc_score(labels, recon)


def test_daad_plus_lr_reading_follows_the_preregistered_thresholds():
    from experiments.daad_plus_lr import LOSSES_SHARE, LR_SHARE, reading
    assert (LR_SHARE, LOSSES_SHARE) == (0.5, 0.25)  # as committed before the runs (3bf31d8)
    gap = 0.04
    assert reading(gap, 0.02) == reading(gap, 0.05) == "the learning rate explains most of the drop"
    assert reading(gap, 0.01) == reading(gap, -0.01) == "the adversarial and alignment losses explain most of the drop"
    assert reading(gap, 0.015).startswith("both")
    assert reading(0.0, 0.03).startswith("no drop")



def test_one_protocol_table_feeds_every_experiment():
    """Table 2, the addressing study, the split by class and the DAAD+ diagnostic read their
    sizes, epochs and batches from common.PROTOCOLS (no second table of their own)."""
    from experiments import addressing, anomaly_classes, plateau, table2
    from experiments.common import PROTOCOLS, oneclass_settings

    assert not hasattr(table2, "SETTINGS")
    oneclass = PROTOCOLS["cpu2"]["oneclass"]
    assert oneclass_settings("cpu2") is oneclass and anomaly_classes.ONECLASS is oneclass
    assert addressing.DATASETS["mnist"]["epochs"] == oneclass["epochs"]["mnist"] == 40
    assert addressing.DATASETS["mnist"]["batch_size"] == oneclass["batch_size"] == plateau.BATCH
    assert addressing.DATASETS["bottle"]["epochs"] == PROTOCOLS["cpu2"]["epochs"]


def test_the_magnetic_tile_folder_is_named_in_one_place(tmp_path):
    import re
    from pathlib import Path

    from experiments.common import MAGNETIC_TILE, mvtec_folder, subset_location

    (tmp_path / "mvtec_ad" / "bottle").mkdir(parents=True)
    assert mvtec_folder(MAGNETIC_TILE, tmp_path) == tmp_path.resolve() / "magnetic_tile"
    assert mvtec_folder("bottle", tmp_path) == tmp_path.resolve() / "mvtec_ad" / "bottle"
    assert subset_location("bottle", None) == {"category": "bottle", "data_dir": None}
    root = Path(__file__).resolve().parents[1]
    sources = [*root.glob("experiments/*.py"), *root.glob("daad_lib/**/*.py"), *root.glob("book/*.py"),
               *root.glob("scripts/*.py")]
    naming = [path.relative_to(root).as_posix() for path in sources
              if re.search(r"[\"']magnetic_tile[\"']", path.read_text())]
    assert naming == ["daad_lib/data/mvtec.py"]  # MAGNETIC_TILE; everything else imports it


def test_book_defaults_rule_takes_the_smallest_budget_beyond_the_seed_spread_within_the_chapter_time():
    from experiments.book_defaults import CHAPTERS, chosen_budget, shows_effect

    assert shows_effect([0.05, 0.04, 0.06]) and not shows_effect([0.10, -0.05, 0.01])
    assert not shows_effect([-0.02, -0.03, -0.01])
    clear, noisy = [0.05, 0.04, 0.06], [0.10, -0.05, 0.01]
    at = lambda seconds_at_8: {e: seconds_at_8 * e / 8 for e in (8, 16, 32, 64)}  # noqa: E731
    assert chosen_budget({8: noisy, 16: clear, 32: clear}, at(CHAPTERS["4"].seconds_at_8)) == 16
    assert chosen_budget({8: noisy, 16: noisy, 32: clear, 64: clear}, at(99)) is None  # 32 epochs: over 360 s
    assert chosen_budget({8: noisy, 16: noisy, 32: clear, 64: clear}, at(11)) == 32  # chapter 5 is quick
    assert chosen_budget({12: clear, 25: clear}, {12: 300, 25: 200}, max_seconds=240) == 25  # the time is a bound


def test_chapter_4_at_128_px_projects_its_time_from_its_runs_training_times():
    """results/book/ch4_128_rule.md: AE + DAAD training seconds at the budget, mean over seeds, + 20 s."""
    from experiments import book_defaults as grid

    chapter = grid.CHAPTERS["4-128"]
    runs = {(m, s, 25): {"train_wall_time_s": (30.0 if m == "ae" else 90.0) + s} for m in ("ae", "daad") for s in grid.SEEDS}
    assert grid.projected_seconds(chapter, runs, 25) == pytest.approx(20 + 31 + 91)
    assert grid.projected_seconds(grid.CHAPTERS["4"], runs, 16) == pytest.approx(99 * 2)


def test_chapter_5s_effect_is_fused_minus_reconstruction_score_of_the_same_daad_plus_run(tmp_path, monkeypatch):
    """results/book/ch5_rule.md: d_s = AUROC(A) - AUROC(R) of seed s's DAAD+, at each budget."""
    import json

    from experiments import book_defaults as grid

    monkeypatch.setattr(grid, "run_file", lambda chapter, data, model, seed, epochs:
                        tmp_path / f"{chapter.folder}-{data}-{model}-{seed}-{epochs}.json")
    written = {}
    monkeypatch.setattr(grid, "write_outputs", lambda protocol, stem, report, markdown: written.update({stem: report}))
    chapter = grid.CHAPTERS["5"]
    for seed in grid.SEEDS:
        for epochs in grid.BUDGETS:
            fused_gain = 0.05 if epochs >= 32 else (0.1 if seed == 0 else -0.06)  # clear from 32 epochs on
            run = {"model": "daad_plus", "seed": seed, "epochs": epochs, "image_auroc_r": 0.7,
                   "image_auroc": 0.7 + fused_gain + 0.001 * seed, "image_auroc_l": 0.6, "train_wall_time_s": 1.0,
                   "precision": "fp32", "git_commit": "x", "hardware": {}, "flips": True}
            grid.run_file(chapter, "bottle", "daad_plus", seed, epochs).write_text(json.dumps(run))
    grid.tabulate(chapter, "bottle")
    report = written["ch5_bottle"]
    assert report["chosen_epochs"] == 32 and report["complete"]
    assert report["effects"]["32"] == pytest.approx([0.05, 0.051, 0.052])
    assert report["by_budget"]["8"]["shows"] is False and report["by_budget"]["64"]["l_mean"] == pytest.approx(0.6)
    assert report["by_budget"]["64"]["r_mean"] == pytest.approx(0.7)


def test_dcae_pending_lists_the_unstored_runs_in_their_fixed_order(tmp_path, monkeypatch):
    """The GPU script's work list: seeds outermost, then variants as given, then classes; a run
    whose result is stored is never listed again."""
    from experiments import dcae

    monkeypatch.setattr(dcae, "results_dir", lambda protocol: tmp_path / protocol)
    (tmp_path / "dcae" / "runs").mkdir(parents=True)
    (tmp_path / "dcae" / "runs" / "mnist-class1-ae-seed0.json").write_text("{}")
    assert dcae.pending(["mnist"], [0, 1], ["dcae", "ae"], [0, 1]) == [
        ("mnist", 0, "dcae", 0), ("mnist", 1, "dcae", 0), ("mnist", 0, "ae", 0),
        ("mnist", 0, "dcae", 1), ("mnist", 1, "dcae", 1), ("mnist", 0, "ae", 1), ("mnist", 1, "ae", 1)]
    (tmp_path / "dcae" / "runs" / "mnist-class0-ae-lr1e-3-seed0.json").write_text("{}")  # judging_rule.md's rate
    assert dcae.pending(["mnist"], [0], ["ae"], [0], dcae.lr_tag(1e-3)) == []
    assert dcae.pending(["mnist"], [1], ["ae"], [0], dcae.lr_tag(1e-3)) == [("mnist", 1, "ae", 0)]


def test_dcae_diagnostics_read_their_runs_by_the_rules_written_before_them(monkeypatch, tmp_path):
    """results/dcae/diagnose_rule.md: H1 flags the budget when an earlier checkpoint beats the final
    model by >= 0.03; H2 flags the image size when 28 px and 32 px differ by >= 0.03."""
    from experiments import dcae_diagnose as diag

    aurocs = {50: 0.90, 100: 0.86, 150: 0.84, 250: 0.82}
    runs = {"keep": 0.815, "28px": 0.83, "": 0.815}
    monkeypatch.setattr(diag, "one_run", lambda d, v, c, s, args, tag="", **kw: {"name": f"run-{tag}",
                                                                                 "image_auroc": runs[tag]})
    monkeypatch.setattr(diag, "checkpoint_folder", lambda protocol, name: tmp_path)
    monkeypatch.setattr(diag, "load_detector", lambda path: (type("D", (), {"config": type("C", (), {"gamma": 1.0})})(),
                                                             {"dataset": {}, "epoch": int(path.stem[-4:])}))
    monkeypatch.setattr(diag, "build_split", lambda spec, split, data_dir: None)
    epochs = iter(diag.KEPT)
    monkeypatch.setattr(diag, "score_dataset", lambda detector, test_set: next(epochs))
    monkeypatch.setattr(diag, "metrics_from_scores", lambda epoch, gamma: {"image_auroc": aurocs[epoch]})
    args = type("A", (), {"data_dir": None})()
    row = diag.budget(6, args)
    assert row["image_auroc_by_epoch"] == {**aurocs, 350: 0.815} and row["reading"] == "budget is a candidate"
    assert diag.size(6, args)["reading"] == "image size does not explain it"  # +0.015
    runs["28px"] = 0.86
    assert diag.size(6, args)["reading"] == "image size matters"


def test_a_stored_run_without_a_flips_record_counts_as_flipped_and_is_refused_by_the_dcae_recipe():
    """results/dcae/flips.md: runs made before flips were recorded trained with them; the recipe
    (no flips) must not reuse such a run, while the protocols that flip still do."""
    from daad_lib.config import make_config
    from experiments.common import PROTOCOLS, StaleRun, check_stored

    config = make_config("dcae", image_size=32, channels=1)
    recipe = {"weight_decay": 1e-3, "lr_milestones": [250], "preprocessing": "gcn-l1"}
    stored = {"name": "mnist-class6-dcae-seed0", "model_config": config.to_dict(), "epochs": 350, "seed": 0,
              "precision": "fp32", "batch_size": 200, **recipe}  # no "flips": made before it was recorded
    check_stored(stored, config, 350, 0, "fp32", 200, {**recipe, "flips": True})
    with pytest.raises(StaleRun, match="flips"):
        check_stored(stored, config, 350, 0, "fp32", 200, {**recipe, "flips": PROTOCOLS["dcae"]["flips"]})
    check_stored({**stored, "flips": False}, config, 350, 0, "fp32", 200, {**recipe, "flips": False})


def test_curve_over_seeds_pairs_daad_with_the_ae_by_seed_at_the_milestones_every_seed_reached(tmp_path, monkeypatch):
    import json

    from experiments import curve

    monkeypatch.setattr(curve, "milestone_file", lambda name, epoch: tmp_path / f"{name}-{epoch}.json")
    for seed, (ae, daad) in enumerate([(0.80, 0.85), (0.82, 0.86), (0.78, 0.86)]):
        for model, auroc in (("ae", ae), ("daad", daad)):
            for epoch in (25, 50):
                if epoch == 50 and seed == 2:
                    continue  # seed 2 has not reached 50 epochs: that milestone is left out
                curve.milestone_file(curve.curve_name(model, seed), epoch).write_text(json.dumps({"image_auroc": auroc}))
    rows = curve.over_seeds(["ae", "daad"], [0, 1, 2])
    assert [row["epoch"] for row in rows] == [25]
    assert rows[0]["daad_minus_ae"]["per_seed"] == pytest.approx([0.05, 0.04, 0.08])
    assert rows[0]["ae"]["mean"] == pytest.approx(0.80) and rows[0]["daad_minus_ae"]["std"] == pytest.approx(0.02082, abs=1e-4)


def test_paired_difference_pairs_by_seed_not_by_order_and_skips_unpaired_seeds():
    from experiments.common import paired_difference
    d = paired_difference({2: 0.90, 0: 0.80, 1: 0.85}, {0: 0.70, 1: 0.80})  # seed 2 has no AE run
    assert d["seeds"] == [0, 1]
    assert d["per_seed"] == pytest.approx([0.10, 0.05])
    assert d["mean"] == pytest.approx(0.075) and d["std"] == pytest.approx(0.0353553, rel=1e-5)


def test_image_scores_average_seeds_within_a_class_then_classes_and_refuse_a_conflicting_duplicate(tmp_path):
    import json
    from experiments.image_scores import gather, rule_status, summarise

    def run(name, subset, seed, scores):
        path = tmp_path / "dcae" / "runs" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": name, "protocol": "dcae", "dataset": "mnist", "subset": subset,
                                    "variant": "ae", "seed": seed, "epochs": 350,
                                    "image_auroc_by_score": dict(zip(("mean", "map_max", "map_top1pct"), scores))}))
        return path
    paths = [run("a", "class1", 0, (0.8, 0.6, 0.7)), run("b", "class1", 1, (1.0, 0.8, 0.9)),
             run("c", "class2", 0, (0.6, 0.7, 0.6))]
    [row] = summarise(gather(paths))
    assert row["image_auroc"]["mean"] == pytest.approx((0.9 + 0.6) / 2)  # class 1's seeds first, then classes
    assert row["gain_over_mean"]["map_max"] == pytest.approx((0.7 + 0.7) / 2 - 0.75)
    assert row["min_seeds_per_subset"] == 1 and "not applied" in rule_status([row])
    with pytest.raises(ValueError, match="second, different run"):
        gather(paths + [run("d", "class1", 0, (0.5, 0.5, 0.5))])


def test_image_scores_give_padded_inputs_their_own_row_and_read_every_committed_run(tmp_path):
    """T2's padded runs share name, model and seed with the stretched ones: they are their own row,
    not a 'second, different run' that stops the report (as it did once the pad runs landed)."""
    import json
    from pathlib import Path

    from experiments.image_scores import gather, summarise

    def run(name, fit, scores):
        path = tmp_path / "cpu2" / "runs" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": name, "protocol": "cpu2", "dataset": "mvtec", "variant": "ae",
                                    "seed": 1, "epochs": 100, **({"fit": fit} if fit else {}),
                                    "image_auroc_by_score": dict(zip(("mean", "map_max", "map_top1pct"), scores))}))
        return path
    rows = summarise(gather([run("mvtec-magnetic_tile-ae-seed1", None, (0.5, 0.6, 0.6)),
                             run("mvtec-magnetic_tile-ae-pad-seed1", "pad", (0.55, 0.5, 0.6))]))
    assert {r["model"]: r["image_auroc"]["mean"] for r in rows} == {"ae": 0.5, "ae (pad)": 0.55}
    committed = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/runs*/*.json"))
    assert summarise(gather(committed))  # every committed run file is read without a conflict


def test_a_commands_records_name_the_commit_it_started_from(monkeypatch):
    """pin_commit: once a command has started, the files it writes itself (a table's figure before
    its JSON) must not turn its record's commit into '+dirty'."""
    from daad_lib import provenance

    monkeypatch.setattr(provenance, "_PINNED_COMMIT", None)
    monkeypatch.setattr(provenance.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "abc123\n"})())
    assert provenance.pin_commit() == "abc123+dirty"  # the fake status is non-empty: dirty at the start
    monkeypatch.setattr(provenance.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "def456\n"})())
    assert provenance.git_commit() == "abc123+dirty"  # what changes later does not change the record
    monkeypatch.setattr(provenance, "_PINNED_COMMIT", None)
    assert provenance.git_commit() == "def456+dirty"


def test_dcae_tables_report_a_run_that_did_not_converge_and_leave_it_out_of_the_means(monkeypatch, tmp_path):
    """judging_rule.md (amended 2026-12-07): a run counts only if its final L_rec is at most 0.003
    (DAAD+: or at most twice its AE's); one that does not is reported, marked and left out."""
    import json
    from experiments import dcae

    assert dcae.converged({"variant": "ae", "final_losses": {"rec": 0.003}})
    assert not dcae.converged({"variant": "daad", "final_losses": {"rec": 0.0031}}, {"final_losses": {"rec": 0.002}})
    assert dcae.converged({"variant": "daad_plus", "final_losses": {"rec": 0.0039}}, {"final_losses": {"rec": 0.002}})
    assert not dcae.converged({"variant": "daad_plus", "final_losses": {"rec": 0.0041}}, {"final_losses": {"rec": 0.002}})

    runs = {(5, 0): (0.0273, 0.463), (5, 1): (0.0014, 0.918), (5, 2): (0.0131, 0.776),
            (6, 0): (0.0013, 0.98), (6, 1): (0.0012, 0.99), (6, 2): (0.0011, 0.97)}
    monkeypatch.setattr(dcae, "one_run", lambda dataset, variant, c, seed, args: {
        "name": f"{c}-{seed}", "variant": variant, "seed": seed,
        "final_losses": {"rec": runs[c, seed][0]}, "image_auroc": runs[c, seed][1]})
    written = {}
    monkeypatch.setattr(dcae, "write_outputs", lambda protocol, name, report, text: written.update(report=report, text=text))
    monkeypatch.setattr(dcae, "results_dir", lambda protocol: tmp_path)
    monkeypatch.setattr("sys.argv", ["dcae", "--datasets", "mnist", "--classes", "5", "6", "--seeds", "0", "1", "2",
                                     "--cached-only"])
    dcae.main()
    row = written["report"]["rows"]["mnist"]["ae"]
    assert row["per_class"]["5"]["values"] == [0.918]  # only the converged seed counts
    assert row["per_class_all_runs"]["5"]["n"] == 3
    assert [(r["class"], r["seed"]) for r in row["not_converged"]] == [(5, 0), (5, 2)]
    assert row["mean_over_classes"]["mean"] == pytest.approx((0.918 + 0.98) / 2)
    assert "(1 of 3 converged)" in written["text"] and "class 5 seed 0 (L_rec 0.0273" in written["text"]
    json.dumps(written["report"])  # the record stays JSON


def test_dcae_tables_pair_a_model_with_the_ae_by_class_and_seed_and_judge_only_a_complete_table(monkeypatch):
    """judging_rule.md: model − AE is paired by class and seed over the runs that count, averaged over
    classes per seed, then mean ± sd over seeds; "beats" needs >= 0.02 above the sd, on every pair."""
    from experiments import dcae

    def run(variant, c, seed):
        auroc = 0.90 + 0.01 * c + (0.03 + 0.01 * seed if variant == "daad" else 0.0)
        rec = 0.01 if (variant, c, seed) == ("daad", 1, 2) else 0.001  # one DAAD run did not converge
        return {"name": f"{variant}-{c}-{seed}", "variant": variant, "seed": seed,
                "final_losses": {"rec": rec}, "image_auroc": auroc}

    monkeypatch.setattr(dcae, "one_run", lambda dataset, variant, c, seed, args: run(variant, c, seed))
    written = {}
    monkeypatch.setattr(dcae, "write_outputs", lambda protocol, name, report, text: written.update(report=report, text=text))
    monkeypatch.setattr("sys.argv", ["dcae", "--datasets", "mnist", "--classes", "0", "1", "--seeds", "0", "1", "2",
                                     "--variants", "ae", "daad", "--cached-only"])
    dcae.main()
    paired = written["report"]["rows"]["mnist"]["daad"]["minus_ae_paired"]
    assert paired["per_seed"] == pytest.approx([0.03, 0.04, 0.05])
    assert paired["pairs"] == 5 and paired["verdict"] == "incomplete: 5 of 6 class-seed pairs"
    assert "DAAD − AE, paired by class and seed" in written["text"]
    assert "minus_ae_paired" not in written["report"]["rows"]["mnist"]["ae"]

    assert dcae.paired_with_ae({(0, s): 0.915 for s in range(3)}, {(0, s): 0.90 for s in range(3)}, [0],
                               [0, 1, 2])["verdict"] == "does not beat the AE"  # +0.015 < 0.02
    noisy = dcae.paired_with_ae({(0, 0): 0.93, (0, 1): 0.99, (0, 2): 0.90}, {(0, s): 0.90 for s in range(3)},
                                [0], [0, 1, 2])  # +0.04 ± 0.046: inside its spread
    assert noisy["verdict"] == "does not beat the AE"


def test_texture_fit_verdict_follows_the_written_rule():
    from experiments.texture_fit import verdict
    assert verdict([0.04, 0.05, 0.035]) == "lifts"
    assert verdict([0.10, -0.05, 0.04]) == "does not lift"  # mean +0.030 but within its spread
    assert verdict([0.02, 0.025, 0.02]) == "does not lift"  # steady but below +0.03
    assert verdict([0.2, 0.2]).startswith("no verdict: 2 of 3")


def test_texture_daad_plus_reads_the_fused_score_and_flags_a_diverged_run():
    from experiments.texture_daad_plus import reading
    from experiments.texture_types import within_shape_bins
    labels = torch.tensor([0, 1] * 20)
    aspect = torch.linspace(0, 1, 40)
    recon = torch.rand(40)
    align = labels.float() * 5 + torch.rand(40)  # L(x) alone separates perfectly
    run = {"name": "t3", "seed": 0, "labels": labels.tolist(), "recon": recon.tolist(), "align": align.tolist(),
           "model_config": {"gamma": 0.0}, "image_auroc": 1.0, "image_auroc_recon": 0.5, "image_auroc_align": 1.0,
           "final_losses": {"epoch": 100, "rec": 0.01, "adv": 3.0}, "train_wall_time_s": 1.0}
    read = reading(run, labels, aspect)
    assert read["shape_held_fixed"] == pytest.approx(1.0)  # γ = 0: A(x) is L(x)'s ranking, bin by bin
    run["model_config"]["gamma"] = 1.0  # A(x) is R(x): the same number as reading R(x) itself
    assert reading(run, labels, aspect)["shape_held_fixed"] == pytest.approx(within_shape_bins(recon, labels, aspect))
    assert read["finite"]
    run["final_losses"]["rec"] = float("nan")
    assert not reading(run, labels, aspect)["finite"]
    with pytest.raises(SystemExit, match="labels differ"):
        reading({**run, "labels": [1 - x for x in labels.tolist()]}, labels, aspect)


def test_dcae_first_translation_runs_are_tagged_and_built_with_their_decoder(monkeypatch):
    """`--dcae-decoder dense` (H5's runs) stores DCAE runs under their own tag and builds the first
    translation; the default builds Deep SVDD's decoder under the plain name; other models ignore it."""
    from types import SimpleNamespace

    from experiments import dcae
    asked = []
    monkeypatch.setattr(dcae, "run_once", lambda *args, **kwargs: asked.append(kwargs))
    for decoder in ("dense", "deep-svdd"):
        args = SimpleNamespace(lr=None, dcae_decoder=decoder, data_dir=None, cached_only=True)
        dcae.one_run("cifar10", "dcae", 4, 0, args)
        dcae.one_run("cifar10", "ae", 4, 0, args)
    dense_dcae, dense_ae, plain_dcae, plain_ae = asked
    assert dense_dcae["tag"] == "dense" and dense_dcae["dcae_decoder"] == "dense"
    assert "tag" not in plain_dcae and "dcae_decoder" not in plain_dcae
    assert "dcae_decoder" not in dense_ae and "tag" not in dense_ae
    args = SimpleNamespace(lr=1e-3, dcae_decoder="dense", data_dir=None, cached_only=True)
    dcae.one_run("cifar10", "dcae", 4, 0, args)
    assert asked[-1]["tag"] == "lr1e-3-dense" and asked[-1]["lr"] == 1e-3


def test_linear_code_reference_is_the_truncated_svd_of_the_centred_images():
    from experiments.trivial_rec import linear_code_rec, mean_image_rec

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(40, 1, 4, 4, generator=generator)  # (n, C, H, W)
    centred = (images - images.mean(0)).flatten(1)  # (n, 16)
    u, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    for k in (1, 3, 8):
        slow = (s[k:] ** 2).sum() / centred.numel()  # the discarded components' energy per value
        assert linear_code_rec(images, k) == pytest.approx(float(slow), rel=1e-6)
    assert linear_code_rec(images, 1) < mean_image_rec(images)  # one component already beats the mean image
    assert mean_image_rec(images) == pytest.approx(float((s ** 2).sum() / centred.numel()), rel=1e-5)
