"""The offline page check's figure rule (book/check_offline_slider.py): every picture has alt text
that is not docutils' default (the file name) and a caption."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))
from check_offline_slider import figure_problems, pages  # noqa: E402


def test_pictures_need_real_alt_text_and_a_caption():
    good = {"src": "../_images/a.png", "alt": "Reconstructions of a bottle", "caption": "Fig. 1: the AE"}
    assert figure_problems("page.html", [good]) == []
    default_alt = {**good, "alt": "../_images/a.png"}
    file_alt = {**good, "alt": "_images/other.PNG"}
    no_caption = {**good, "caption": ""}
    problems = figure_problems("page.html", [default_alt, file_alt, no_caption, {**good, "alt": " "}])
    assert [p.split(" has ")[1].split(":")[0] for p in problems] == ["no alt text", "no alt text", "no caption",
                                                                     "no alt text"]
    assert problems[0].startswith("page.html: picture 1")


def test_redirect_pages_are_not_opened(tmp_path):
    """Jupyter Book's root index.html only forwards to the first chapter (checked itself);
    opening it navigates away while the check reads the page."""
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text("<html><body><p>A chapter</p></body></html>")
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.html").write_text("<p>asset</p>")
    assert pages(tmp_path) == [tmp_path / "book" / "intro.html"]
