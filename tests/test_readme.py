"""README.md's results blocks are generated from committed results files (scripts/readme_results.py)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def generator():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("document", ["README.md", "results/README.md"])
def test_documents_match_the_generated_blocks(document):
    text = (ROOT / document).read_text()
    assert generator().render(text, ROOT / document) == text, \
        f"{document} is stale: run python scripts/readme_results.py"


def test_a_number_edited_by_hand_is_caught():
    document = ROOT / "results" / "README.md"
    text = document.read_text()
    table3 = (ROOT / "results" / "cpu" / "table3_bottle.md").read_text()
    row = next(line for line in table3.splitlines() if line.startswith("| DAAD |"))
    edited = text.replace(row, row.replace("| DAAD |", "| DAAD (edited) |"), 1)
    assert edited != text and generator().render(edited, document) == text


@pytest.mark.parametrize("document", ["README.md", "results/README.md"])
def test_links_point_at_files_that_exist(document):
    import re

    document = ROOT / document
    for target in re.findall(r"\]\((?!https?:|#)([^)#\s]+)", document.read_text()):
        assert (document.parent / target).exists(), target


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_directives(tmp_path):
    (tmp_path / "t.md").write_text("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\ntext\n\n| c |\n|---|\n| 3 |\n")
    (tmp_path / "r.json").write_text(json.dumps({"rows": {"x": {"auroc": 0.91234}}, "runs": [{"s": 1}, {"s": 7}]}))
    render = generator().render_template
    assert render(f"%% a note\n{{{{table {tmp_path}/t.md 2}}}}") == "| c |\n|---|\n| 3 |"
    assert render(f"AUROC {{{{value {tmp_path}/r.json rows.x.auroc .3f}}}}, "
                  f"last seed {{{{value {tmp_path}/r.json runs.-1.s}}}}") == "AUROC 0.912, last seed 7"
    assert render(f"{{{{include {tmp_path}/t.md}}}}").startswith("# T\n\n| a | b |")
    with pytest.raises(ValueError, match="has 2 tables"):
        render(f"{{{{table {tmp_path}/t.md 3}}}}")
    with pytest.raises(FileNotFoundError, match="missing.json does not exist"):
        render(f"{{{{value {tmp_path}/missing.json a}}}}")
