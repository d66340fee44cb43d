"""Turn the log of one ``bash .ci/run`` into a results file (test counts, stage and notebook times).

    bash .ci/run 2>&1 | tee ci.log; python benchmarks/ci_timing.py ci.log --note "..." --out results/ci/ci_run.json
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from daad_lib.provenance import run_info


def parse(log: str) -> dict:
    summaries = re.findall(r"=+ (\d+ passed[^=]*?) in ([\d.]+)s", log)
    stages = {name: int(seconds) for name, seconds in re.findall(r"== (.+?) done at (\d+) s", log)}
    notebooks = {name: int(s) for name, s in re.findall(r"^(notebooks/\S+\.ipynb): (\d+) s$", log, re.M)}
    built = re.search(r"build (succeeded|finished with problems)(?:, (\d+) warnings?)?", log)
    return {
        "pytest_library": {"summary": summaries[0][0], "seconds": float(summaries[0][1])} if summaries else None,
        "pytest_nbval": {"summary": summaries[1][0], "seconds": float(summaries[1][1])} if len(summaries) > 1 else None,
        "stages_done_at_s": stages,
        "notebook_seconds": notebooks,
        "jupyter_book_warnings": 0 if built and built.group(1) == "succeeded" else (int(built.group(2) or 0) if built else None),
        "slider_check": (re.search(r"^slider moved.*$", log, re.M) or [None])[0],
        "wall_time_s": int(re.search(r"real\s+(\d+)m([\d.]+)s", log).group(1)) * 60
        + float(re.search(r"real\s+(\d+)m([\d.]+)s", log).group(2)) if re.search(r"real\s+\d+m", log) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = {**run_info(["bash", ".ci/run"]), "note": args.note, **parse(Path(args.log).read_text())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
