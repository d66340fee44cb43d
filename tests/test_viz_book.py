"""The book's helpers: offline sliders, diagrams drawn from the config, the data fallback,
the model cache (the exercise checks: test_exercises.py)."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from daad_lib import book  # noqa: E402
from daad_lib.book import HOW_TO_GET_MVTEC, bottle_or_standin, committed_markdown  # noqa: E402
from daad_lib.config import make_config  # noqa: E402
from daad_lib.data import Stripes  # noqa: E402
from daad_lib.train import TrainConfig  # noqa: E402
from daad_lib.viz import (addressing_grid, discriminator_shapes, draw_architecture, draw_discriminator,  # noqa: E402
                          figure_to_array, frame_slider, image_grid)


def test_frame_slider_is_self_contained_html_with_one_frame_per_position():
    frames = [[torch.full((3, 8, 8), value), torch.rand(8, 8)] for value in (-1.0, 0.0, 1.0)]
    html = frame_slider(frames, ["a", "b", "c"], ["image", "map"], alt='An image and its "map"').data
    assert re.search(r'<img id="_anim_img\w+" alt="An image and its &quot;map&quot;"', html)  # escaped
    assert re.search(r'<input[^>]+type="range"', html)
    assert html.count("data:image/png;base64") == 3  # frames are embedded, nothing is fetched
    assert "http" not in html  # no external resource at all (the icon font is replaced)
    assert "&#x25B6;" in html  # the play button, drawn as a character


def test_frame_slider_refuses_a_slider_without_alt_text():
    with pytest.raises(ValueError, match="alt text"):
        frame_slider([[torch.zeros(4, 4)]], ["a"], ["image"], alt="  ")


def test_figure_to_array_and_grid():
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    array = figure_to_array(fig)
    assert array.shape == (50, 100, 3) and 0 <= array.min() and array.max() <= 1
    grid = image_grid([[torch.zeros(1, 4, 4), torch.zeros(4, 4)]], col_labels=["a", "b"])
    assert len(grid.axes) == 2


def texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_architecture_diagram_shows_the_built_model_shapes_and_memories():
    text = texts(draw_architecture(make_config("daad", image_size=128)))
    assert "rates (4, 4, 1)" in text and "32×64×64" in text and "D = 4096" in text  # 32*(64/4)*(64/4)
    assert text.count("memory") == 4
    plain = texts(draw_architecture(make_config("ae", image_size=64)))
    assert "memory" not in plain and "bottleneck" in plain
    plt.close("all")


def test_discriminator_diagram_follows_the_discriminator_stages():
    config = make_config("daad_plus", image_size=64)
    shapes = discriminator_shapes(config)
    assert shapes[-1][1:] == (4, 4) and len(shapes) == 4  # 64 -> 32 -> 16 -> 8 -> 4
    text = texts(draw_discriminator(config))
    assert all("×".join(map(str, s)) in text for s in shapes)
    plt.close("all")


def test_addressing_grid_labels_every_block_with_its_top_item():
    weights = torch.zeros(4, 5)
    weights[torch.arange(4), torch.tensor([3, 1, 4, 0])] = 1.0  # (Q, N): block k reads item [3, 1, 4, 0][k]
    fig, ax = plt.subplots()
    addressing_grid(ax, torch.zeros(3, 8, 8), weights, (2, 2, 1))
    assert [t.get_text() for t in ax.texts] == ["3", "1", "4", "0"]
    plt.close("all")


def test_missing_mvtec_falls_back_to_digits_and_says_so(tmp_path, capsys):
    train, test, source = bottle_or_standin(str(tmp_path / "nowhere"), 32)
    assert source.startswith("stand-in") and set(train.labels) == {0} and 1 in test.labels
    assert HOW_TO_GET_MVTEC.split(".")[0] in capsys.readouterr().out
    assert "stand-in" in book.data_sentence(source, train, test, 32)


def test_missing_results_are_said_plainly():
    assert "No committed results" in committed_markdown("no_such_table")
    assert book.committed_figure("no_such_table") is None


def test_trained_caches_by_config_and_loads_the_same_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(book, "CACHE", tmp_path)
    data, recipe = Stripes("train", 32, num_images=8), TrainConfig(epochs=1)
    first = book.trained("ae", data, recipe, "stripes", image_size=32, channels=3)
    import daad_lib.train
    monkeypatch.setattr(daad_lib.train, "fit", lambda *a, **k: pytest.fail("trained again instead of loading"))
    again = book.trained("ae", data, recipe, "stripes", image_size=32, channels=3)
    assert "loaded" in capsys.readouterr().out
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(pytest.fail.Exception):  # another config is another model: it trains
        book.trained("ae", data, recipe, "stripes", image_size=32, channels=3, num_items=7)


def test_a_chapter_loads_an_instructors_pretrained_model_from_a_folder_or_a_file_url(tmp_path, monkeypatch, capsys):
    """PRETRAINED: an instructor's cache folder (here made by training once into it) is read by
    path or file:// URL instead of training; a folder without the model says so and trains."""
    handout, student = tmp_path / "handout", tmp_path / "student_cache"
    data, recipe = Stripes("train", 32, num_images=8), TrainConfig(epochs=1)
    monkeypatch.setattr(book, "CACHE", handout)
    made = book.trained("ae", data, recipe, "stripes", image_size=32, channels=3)
    monkeypatch.setattr(book, "CACHE", student)
    monkeypatch.setenv("DAAD_CACHE", str(tmp_path / "downloads"))
    import daad_lib.train
    real_fit = daad_lib.train.fit
    monkeypatch.setattr(daad_lib.train, "fit", lambda *a, **k: pytest.fail("trained instead of loading"))
    for pretrained in (str(handout), handout.as_uri()):
        loaded = book.trained("ae", data, recipe, "stripes", pretrained=pretrained, image_size=32, channels=3)
        assert "loaded the pretrained model" in capsys.readouterr().out
        for a, b in zip(made.state_dict().values(), loaded.state_dict().values()):
            assert torch.equal(a, b)
    monkeypatch.setattr(daad_lib.train, "fit", real_fit)
    book.trained("ae", data, recipe, "stripes", pretrained=str(tmp_path / "empty"), image_size=32, channels=3)
    assert "training instead" in capsys.readouterr().out


def test_a_handout_with_sha256sums_loads_only_files_with_their_listed_digest(tmp_path, monkeypatch, capsys):
    """PRETRAINED with a SHA256SUMS file beside the checkpoints (`sha256sum *.pt > SHA256SUMS`):
    a file with its listed digest loads (path or file:// URL); a wrong digest is refused with an
    error naming the file and both digests; a file the list does not name is not used."""
    import hashlib

    from daad_lib.checkpoint import CheckpointError, save_checkpoint
    from daad_lib.models import build_model
    from daad_lib.pretrained import DigestError

    data, recipe = Stripes("train", 32, num_images=8), TrainConfig(epochs=1)
    handout = tmp_path / "handout"
    name = f"ae-{book.cache_key('ae', recipe, 'stripes', len(data), dict(image_size=32, channels=3))}.pt"
    made = build_model("ae", image_size=32, channels=3)  # an untrained model stands in for the instructor's
    save_checkpoint(handout / name, {"model_config": made.config.to_dict(), "epoch": 1, "history": [],
                                     "generator": made.generator.state_dict(), "discriminator": None})
    digest = hashlib.sha256((handout / name).read_bytes()).hexdigest()
    monkeypatch.setattr(book, "CACHE", tmp_path / "student_cache")
    monkeypatch.setenv("DAAD_CACHE", str(tmp_path / "downloads"))
    import daad_lib.train
    monkeypatch.setattr(daad_lib.train, "fit", lambda *a, **k: pytest.fail("trained instead of loading"))

    (handout / book.SUMS).write_text(f"{digest}  {name}\n")
    for pretrained in (str(handout), handout.as_uri()):
        loaded = book.trained("ae", data, recipe, "stripes", pretrained=pretrained, image_size=32, channels=3)
        assert f"{name}: its sha256 matches the hand-out's SHA256SUMS" in capsys.readouterr().out
        assert all(torch.equal(a, b) for a, b in zip(made.state_dict().values(), loaded.state_dict().values()))

    wrong = "0" * 64
    (handout / book.SUMS).write_text(f"{wrong} *{name}\n")
    for pretrained in (str(handout), handout.as_uri()):
        with pytest.raises(DigestError) as refused:
            book.trained("ae", data, recipe, "stripes", pretrained=pretrained, image_size=32, channels=3)
        assert name in str(refused.value) and digest in str(refused.value) and wrong in str(refused.value)
        assert "SHA256SUMS" in str(refused.value)

    (handout / book.SUMS).write_text(f"{digest}  another.pt\n")
    assert book.pretrained_file(str(handout), name) is None
    assert f"does not list {name}" in capsys.readouterr().out
    (handout / book.SUMS).write_text("not a digest line\n")
    with pytest.raises(CheckpointError, match="is not '<sha256>  <file name>'"):
        book.handout_digests(str(handout))


def test_budget_sentence_reads_the_run_against_the_committed_grid():
    """A chapter's glued claim follows the grid: a lead beyond the spread, the first budget that
    shows one, none at all, or a run outside the grid (results/book/*_rule.md)."""
    from daad_lib.book import budget_sentence

    row = lambda mean, sd, shows: {"mean": mean, "sd": sd, "shows": shows, "ae_mean": 0.8, "daad_mean": 0.8 + mean}
    grid = {"image_size": 64, "seeds": [0, 1, 2], "by_budget": {"8": row(-0.05, 0.02, False), "16": row(0.04, 0.01, True)}}
    arms = {"ae": "AE", "daad": "DAAD"}
    at_8 = budget_sentence(grid, 64, 8, -0.03, "DAAD − AE", "*bottle*", arms)
    assert "-0.050 ± 0.020 over seeds 0, 1, 2" in at_8 and "AE 0.800; DAAD 0.750" in at_8 and "set `EPOCHS = 16`" in at_8
    assert "larger than its spread" in budget_sentence(grid, 64, 16, 0.02, "DAAD − AE", "*bottle*", arms)
    never = {"image_size": 64, "seeds": [0, 1, 2], "by_budget": {"8": row(-0.05, 0.02, False), "16": row(0.01, 0.03, False)}}
    none_shows = budget_sentence(never, 64, 8, 0.0, "DAAD − AE", "*bottle*", arms, when_none_shows="Wait.")
    assert "no budget of the grid up to 16 epochs" in none_shows and none_shows.endswith("Wait.")
    assert "outside the committed budget grid" in budget_sentence(grid, 128, 8, 0.1, "DAAD − AE", "*bottle*", arms)
    assert "No budget grid" in budget_sentence(None, 64, 8, 0.1, "DAAD − AE", "*bottle*", arms)
