"""The hub launch: binder/ (repo2docker) installs CPU-only PyTorch and the library, and the
book's launch buttons survive Jupyter Book's configuration (sphinx.config would replace them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def pip_lines(path: Path) -> list[str]:
    lines, in_pip = [], False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped == "- pip:":
            in_pip = True
        elif in_pip and stripped.startswith("- "):
            lines.append(stripped[2:])
    return lines


def test_binder_environment_has_cpu_torch_with_the_projects_pins():
    lines = pip_lines(ROOT / "binder" / "environment.yml")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    wanted = {d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
              if d.startswith(("torch>", "torchvision>"))}
    assert wanted and wanted <= set(lines)
    assert not any(l.startswith("-e") for l in lines)  # repo2docker has no checkout yet at this stage


def test_postbuild_installs_the_library_with_the_book_extra():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    assert 'pip install --no-cache-dir -e ".[book]"' in post.read_text()


def test_launch_buttons_reach_the_theme():
    config = pytest.importorskip("jupyter_book.config")
    final, _ = config.get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                                       sourcedir=ROOT)
    theme = final["html_theme_options"]
    assert theme["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert theme["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert theme["repository_url"].startswith("https://github.com/")
    assert theme["use_download_button"] is True and theme["use_repository_button"] is False
    assert final["nb_execution_mode"] == "off"
