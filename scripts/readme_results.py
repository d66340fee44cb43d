"""Write the generated blocks of README.md and results/README.md from committed results files.

    python scripts/readme_results.py           # rewrite the blocks in both documents
    python scripts/readme_results.py --check   # exit 1 (and show a diff) when one is stale

README.md carries a short summary; results/README.md every result in detail. Each block sits
between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in its document and is rendered
from its template in :data:`BLOCKS`: hand-written prose plus directives
that pull text and numbers from results files, so no number is copied by hand:

* ``{{include PATH}}``: the whole file (e.g. a table's ``.md``);
* ``{{table PATH N}}``: the N-th markdown table (1 = first) of a file;
* ``{{value PATH KEY.KEY... FORMAT}}``: one number (or string) of a JSON file, with a
  Python format spec, e.g. ``{{value results/cpu/table4_bottle.json rows.1.image_auroc.mean .3f}}``;
  list items are addressed by index (``history.-1.rec``).

Template lines that start with ``%%`` are notes for editors and are left out. Templates
write links relative to the repository root; in results/README.md they are made relative
to that folder.

tests/test_readme.py fails when a document differs from what this script writes.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS_README = ROOT / "results" / "README.md"
# document -> {block name -> its template} (paths relative to the repository root)
BLOCKS = {
    README: {"summary": "results/README_summary.md"},
    RESULTS_README: {"results": "results/README_block.md", "folder": "results/README_folder.md",
                     "speed": "results/README_speed.md", "metrics": "results/README_metrics.md"},
}
DIRECTIVE = re.compile(r"\{\{(include|table|value) ([^}]*)\}\}")
LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)\s]+)\)")


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


def relative_links(text: str, document: Path) -> str:
    """Markdown links written from the repository root, made relative to ``document``'s folder."""
    if document.parent == ROOT:
        return text
    return LINK.sub(lambda m: "](" + os.path.relpath(ROOT / m.group(1), document.parent) + ")", text)


def render(readme: str, document: Path = README) -> str:
    """``readme`` (the text of ``document``) with every block replaced by its rendered template."""
    for name, template in BLOCKS[document].items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if readme.count(start) != 1 or readme.count(end) != 1:
            raise ValueError(f"{document.name} needs exactly one {start} and one {end}")
        head, rest = readme.split(start)
        _, tail = rest.split(end)
        block = relative_links(render_template((ROOT / template).read_text()), document)
        readme = f"{head}{start}\n{block}\n{end}{tail}"
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a document is stale")
    args = parser.parse_args(argv)
    stale = 0
    for document in BLOCKS:
        current = document.read_text()
        wanted = render(current, document)
        name = str(document.relative_to(ROOT))
        if args.check and current != wanted:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                       name, f"{name} (generated)"))
            stale = 1
        elif not args.check:
            document.write_text(wanted)
    return stale


if __name__ == "__main__":
    sys.exit(main())
