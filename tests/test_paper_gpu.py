"""experiments/paper_gpu.py, the paper protocol prepared for a GPU, dry-run on the CPU."""
from __future__ import annotations

import json


def test_paper_gpu_script_dry_runs_on_the_cpu_and_resumes(tiny_mvtec, tmp_path):
    """experiments/paper_gpu.py at a tiny size on the CPU: both models train through the run
    pipeline, the results file names every run, and a second call trains nothing again."""
    from experiments import paper_gpu

    args = ["--models", "ae", "daad", "--epochs", "2", "--image-size", "32", "--device", "cpu",
            "--data-dir", str(tiny_mvtec), "--out", str(tmp_path / "runs"), "--checkpoint-every", "2"]
    assert paper_gpu.main(args) == 0
    report = json.loads((tmp_path / "runs" / "results.json").read_text())
    assert set(report["rows"]) == {"ae", "daad"} and report["parallel"] is False
    assert all(row["epochs"] == 2 and 0 <= row["image_auroc"] <= 1 for row in report["rows"].values())
    assert report["paper_image_auroc"] == {"ae": 0.955, "daad": 0.975}
    checkpoint = tmp_path / "runs" / "bottle-daad" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    assert paper_gpu.main(args) == 0
    assert checkpoint.stat().st_mtime_ns == before  # finished models are not trained again


def test_paper_gpu_script_trains_models_in_parallel_processes(tiny_mvtec, tmp_path):
    from experiments import paper_gpu

    out = tmp_path / "runs"
    assert paper_gpu.main(["--models", "ae", "daad", "--epochs", "1", "--image-size", "32", "--device", "cpu",
                           "--data-dir", str(tiny_mvtec), "--out", str(out), "--parallel"]) == 0
    assert json.loads((out / "results.json").read_text())["parallel"] is True
    assert {path.name for path in out.glob("*.log")} == {"ae.log", "daad.log"}
    assert all(paper_gpu.finished(out, variant, 1) for variant in ("ae", "daad"))


def test_gpu_dcae_script_lists_its_work_and_starts_nothing_after_its_deadline(tmp_path):
    """scripts/gpu_dcae.sh on the CPU with a deadline of 0 s: it unpacks the carried MNIST files,
    writes the pending runs (those not committed) and starts none of them."""
    import gzip
    import os
    import subprocess
    from pathlib import Path

    from experiments import dcae

    root = Path(__file__).resolve().parents[1]
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"labels"))
    env = {**os.environ, "OUT": str(tmp_path / "out"), "DATA": str(tmp_path / "data"), "DEADLINE_S": "0",
           "VARIANTS": "dcae ae"}
    done = subprocess.run(["bash", str(root / "scripts" / "gpu_dcae.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == b"labels"
    listed = (tmp_path / "out" / "pending.txt").read_text().splitlines()
    assert listed == [" ".join(map(str, run)) for run in dcae.pending(["mnist"], list(range(10)), ["dcae", "ae"], [0, 1, 2])]
    assert listed and not list((tmp_path / "out" / "runs").glob("*.log"))
