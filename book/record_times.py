"""Write the per-chapter papermill times of the last build into book/timings.{json,md}.

    python book/record_times.py [--note "quiet machine"]

Reads ``_build/notebook_times.txt`` (written by book/build.sh: one line per chapter with its
seconds and the machine's load average) and records it with the git commit, hardware and date,
so that the "Running the book" page can show where its numbers come from.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from daad_lib.data import MAGNETIC_TILE, default_data_dir
from daad_lib.provenance import run_info

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"notebooks/(?P<name>\S+)\.ipynb: (?P<seconds>\d+) s(?: \(load (?P<load>[\d. ]+)\))?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--note", default="", help="how the machine was used during the build")
    args = parser.parse_args()
    chapters = []
    for line in (ROOT / "_build" / "notebook_times.txt").read_text().splitlines():
        match = LINE.match(line)
        if match:
            load = [float(v) for v in match["load"].split()] if match["load"] else None
            chapters.append({"notebook": match["name"], "seconds": int(match["seconds"]), "load_average": load})
    record = {**run_info(), "note": args.note, "chapters": chapters,
              "total_seconds": sum(c["seconds"] for c in chapters)}
    (ROOT / "book" / "timings.json").write_text(json.dumps(record, indent=1) + "\n")
    rows = ["| chapter | papermill time | load average (1, 5, 15 min) at its end |", "|---|---|---|"]
    rows += [f"| `{c['notebook']}` | {c['seconds'] / 60:.1f} min | "
             f"{', '.join(f'{v:.1f}' for v in c['load_average']) if c['load_average'] else 'not recorded'} |"
             for c in chapters]
    rows.append(f"| **all chapters** | **{record['total_seconds'] / 60:.1f} min** | |")
    data = default_data_dir()
    found = [name for name in ("mvtec_ad/bottle", MAGNETIC_TILE) if data is not None and (data / name).is_dir()]
    record["data_found"] = found
    (ROOT / "book" / "timings.json").write_text(json.dumps(record, indent=1) + "\n")
    hardware = record["hardware"]
    source = (f"Measured by `bash book/build.sh` at commit `{record['git_commit'][:10]}` on {record['date'][:10]}, "
              f"{hardware['cpu']} ({hardware['cpu_cores']} cores, {hardware['torch_threads']} torch threads), "
              f"default parameters, data found: {', '.join(found) or 'none (stand-ins)'}. {args.note}")
    (ROOT / "book" / "timings.md").write_text("\n".join(rows) + "\n\n" + source.strip() + "\n")
    print((ROOT / "book" / "timings.md").read_text())


if __name__ == "__main__":
    main()
