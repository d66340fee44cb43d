"""Write the README's generated blocks from committed results files.

    python scripts/readme_results.py           # rewrite the blocks in README.md
    python scripts/readme_results.py --check   # exit 1 (and show a diff) when README.md is stale

Each block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in README.md
and is rendered from its template in :data:`BLOCKS`: hand-written prose plus directives
that pull text and numbers from results files, so no number is copied by hand:

* ``{{include PATH}}``: the whole file (e.g. a table's ``.md``);
* ``{{table PATH N}}``: the N-th markdown table (1 = first) of a file;
* ``{{value PATH KEY.KEY... FORMAT}}``: one number (or string) of a JSON file, with a
  Python format spec, e.g. ``{{value results/cpu/table4_bottle.json rows.1.image_auroc.mean .3f}}``;
  list items are addressed by index (``history.-1.rec``).

Template lines that start with ``%%`` are notes for editors and are left out.

tests/test_readme.py fails when README.md differs from what this script writes.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# block name in README.md -> its template (paths relative to the repository root)
BLOCKS = {
    "results": "results/README_block.md",
    "folder": "results/README_folder.md",
    "speed": "results/README_speed.md",
    "metrics": "results/README_metrics.md",
}
DIRECTIVE = re.compile(r"\{\{(include|table|value) ([^}]*)\}\}")


def markdown_tables(text: str) -> list[str]:
    """The markdown tables of a text, in order (runs of lines that start with '|')."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append("\n".join(current))
            current = []
    return tables


def json_value(data, key_path: str):
    for key in key_path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def expand(kind: str, arguments: str) -> str:
    """The text one directive stands for."""
    parts = arguments.split()
    path = ROOT / parts[0]
    if not path.is_file():
        raise FileNotFoundError(f"{{{{{kind} {arguments}}}}}: {parts[0]} does not exist")
    if kind == "include":
        return path.read_text().strip("\n")
    if kind == "table":
        tables = markdown_tables(path.read_text())
        number = int(parts[1])
        if not 1 <= number <= len(tables):
            raise ValueError(f"{{{{table {arguments}}}}}: {parts[0]} has {len(tables)} tables")
        return tables[number - 1]
    value = json_value(json.loads(path.read_text()), parts[1])
    return format(value, parts[2] if len(parts) > 2 else "")


def render_template(template: str) -> str:
    text = "\n".join(line for line in template.splitlines() if not line.startswith("%%"))
    return DIRECTIVE.sub(lambda match: expand(match.group(1), match.group(2)), text).strip("\n")


def render(readme: str) -> str:
    """``readme`` with every block replaced by its rendered template."""
    for name, template in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if readme.count(start) != 1 or readme.count(end) != 1:
            raise ValueError(f"README.md needs exactly one {start} and one {end}")
        head, rest = readme.split(start)
        _, tail = rest.split(end)
        readme = f"{head}{start}\n{render_template((ROOT / template).read_text())}\n{end}{tail}"
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when README.md is stale")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                       "README.md", "README.md (generated)"))
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
