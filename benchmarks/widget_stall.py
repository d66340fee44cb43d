"""Does executing a notebook with widget cells ever stall? Run it many times and count.

    python benchmarks/widget_stall.py --notebook minimal --runs 50 --via execute.sh
    python benchmarks/widget_stall.py --notebook minimal --runs 20 --via papermill --load 2
    python benchmarks/widget_stall.py --notebook notebooks/03_block_memory.ipynb --runs 20
    python benchmarks/widget_stall.py --summarize results/book/widget_stall_*.json --out results/book/widget_stall.md

``--notebook minimal`` is the three-cell ``interact`` notebook that reproduces the stall
(ipywidgets + matplotlib, then a print). ``--via execute.sh`` runs ``bash book/execute.sh``
(what CI runs); ``--via papermill`` runs plain ``papermill``, for comparison. ``--load K``
keeps K busy-looping processes running meanwhile (a 2-core machine under load is where plain
papermill stalls most). A run counts as stalled when it does not finish within ``--limit``
seconds (then it is killed) or when book/execute.sh had to retry it. The outputs of the
executed copies go to a temporary folder; the notebook itself is not changed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from daad_lib.provenance import run_info

ROOT = Path(__file__).resolve().parents[1]
MINIMAL_CELLS = [
    "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\nimport numpy as np",
    "@widgets.interact(t=widgets.FloatSlider(value=1.0))\ndef explore(t):\n"
    "    plt.imshow(np.random.rand(8, 8)); plt.show()\n    print(t)",
    'print("after")',
]


def write_minimal(path: Path) -> Path:
    notebook = new_notebook(cells=[new_code_cell(source) for source in MINIMAL_CELLS])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def command(via: str, notebook: Path, output: Path) -> list[str]:
    if via == "execute.sh":
        return ["bash", str(ROOT / "book" / "execute.sh"), str(notebook), str(output)]
    return ["papermill", "-k", "python3", str(notebook), str(output), "--log-level", "WARNING",
            "--no-progress-bar"]


def run_once(via: str, notebook: Path, output: Path, limit: float) -> dict:
    """One execution in its own process group, so that a stalled one is killed with its kernel."""
    start = time.monotonic()
    process = subprocess.Popen(command(via, notebook, output), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=limit)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        returncode = None
    seconds = time.monotonic() - start
    retried = "attempt 1" in stderr
    return {"seconds": round(seconds, 2), "returncode": returncode, "retried": retried,
            "stalled": returncode is None or retried, "failed": returncode not in (0, None)}


def summarize(paths: list[Path]) -> str:
    """A markdown table of several results files of this script."""
    rows = ["| notebook | executed by | busy processes | runs | stalled | failed | median s | max s | commit |",
            "|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        r = json.loads(path.read_text())
        rows.append(f"| {Path(r['notebook']).stem} | {r['via']} | {r['busy_processes']} | {r['runs']} | "
                    f"{r['stalled']} | {r['failed']} | {r['seconds_median']} | {r['seconds_max']} | "
                    f"`{r['git_commit'][:10]}` |")
    return "\n".join(rows) + "\n\nA run counts as stalled when it did not finish within its limit (then it was killed) " \
        "or when book/execute.sh had to retry it. Files: " + ", ".join(f"`{p.name}`" for p in paths) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summarize", type=Path, nargs="+", help="results files to table (no runs)")
    parser.add_argument("--notebook", default="minimal", help="'minimal' or a notebook path")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--via", choices=["execute.sh", "papermill"], default="execute.sh")
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes meanwhile")
    parser.add_argument("--limit", type=float, default=120, help="seconds before a run counts as stalled")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.summarize:
        args.out.write_text(summarize(args.summarize))
        print(args.out.read_text())
        return

    scratch = Path(tempfile.mkdtemp(prefix="widget_stall_"))
    notebook = write_minimal(scratch / "minimal.ipynb") if args.notebook == "minimal" else ROOT / args.notebook
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    runs = []
    try:
        for index in range(args.runs):
            runs.append(run_once(args.via, notebook, scratch / "out.ipynb", args.limit))
            print(f"run {index + 1}/{args.runs}: {runs[-1]}", flush=True)
    finally:
        for process in load:
            process.kill()
    seconds = sorted(run["seconds"] for run in runs)
    report = {
        **run_info(), "notebook": args.notebook, "via": args.via, "busy_processes": args.load,
        "limit_s": args.limit, "runs": len(runs),
        "stalled": sum(run["stalled"] for run in runs), "failed": sum(run["failed"] for run in runs),
        "retried": sum(run["retried"] for run in runs),
        "seconds_median": seconds[len(seconds) // 2], "seconds_max": seconds[-1],
        "load_average_at_end": os.getloadavg(), "per_run": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.out}: {report['stalled']} of {report['runs']} stalled, {report['failed']} failed, "
          f"median {report['seconds_median']} s, max {report['seconds_max']} s")


if __name__ == "__main__":
    main()
