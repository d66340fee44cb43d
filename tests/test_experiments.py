"""The experiments' pre-registered decision rules, on synthetic summaries (no training)."""
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
