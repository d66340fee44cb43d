"""The book's helpers: offline sliders and the data fallback."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from daad_lib.book import HOW_TO_GET_MVTEC, bottle_or_standin, committed_markdown  # noqa: E402
from daad_lib.viz import figure_to_array, frame_slider, image_grid  # noqa: E402


def test_frame_slider_is_self_contained_html_with_one_frame_per_position():
    frames = [[torch.full((3, 8, 8), value), torch.rand(8, 8)] for value in (-1.0, 0.0, 1.0)]
    html = frame_slider(frames, ["a", "b", "c"], ["image", "map"]).data
    assert re.search(r'<input[^>]+type="range"', html)
    assert html.count("data:image/png;base64") == 3  # frames are embedded, nothing is fetched
    assert "http" not in html  # no external resource at all (the icon font is replaced)
    assert "&#x25B6;" in html  # the play button, drawn as a character


def test_figure_to_array_and_grid():
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    array = figure_to_array(fig)
    assert array.shape == (50, 100, 3) and 0 <= array.min() and array.max() <= 1
    grid = image_grid([[torch.zeros(1, 4, 4), torch.zeros(4, 4)]], col_labels=["a", "b"])
    assert len(grid.axes) == 2


def test_missing_mvtec_falls_back_to_digits(tmp_path, capsys):
    train, test, source = bottle_or_standin(str(tmp_path / "nowhere"), 32)
    assert source.startswith("stand-in") and set(train.labels) == {0} and 1 in test.labels
    assert HOW_TO_GET_MVTEC.split(".")[0] in capsys.readouterr().out


def test_missing_results_are_said_plainly():
    assert "No committed results" in committed_markdown("no_such_table")
