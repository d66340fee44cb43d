"""Figures for the book and the CLI: image grids and offline sliders.

:func:`frame_slider` turns precomputed frames into matplotlib's JavaScript
animation player (``to_jshtml``): a self-contained HTML slider that works in
Jupyter and in the built book with no kernel and no internet. Live ipywidgets
sliders recompute in a running kernel; this one replays what was computed.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) grey or (H, W, 3) colour array in [0, 1]."""
    array = ((image.detach().cpu().float() + 1) / 2).clamp(0, 1)
    return array[0].numpy() if array.shape[0] == 1 else array.permute(1, 2, 0).numpy()


def as_array(panel) -> np.ndarray:
    """A panel as an array to draw: (C, H, W) tensors in [-1, 1] become images in [0, 1];
    2-D maps and ready-made arrays pass through."""
    if isinstance(panel, torch.Tensor) and panel.dim() == 3:
        return to_numpy_image(panel)
    return np.asarray(panel)


def show(ax, image, title: str = "", **kwargs) -> None:
    """Draw a (C, H, W) tensor in [-1, 1] (or an (H, W) map) on ``ax`` without ticks."""
    array = as_array(image)
    grey = array.ndim == 2 and "cmap" not in kwargs
    ax.imshow(array, cmap="gray" if grey else kwargs.pop("cmap", None), vmin=0 if grey else None,
              vmax=1 if grey else None, **kwargs)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def image_grid(rows: list[list], row_labels: list[str] | None = None, col_labels: list[str] | None = None,
               size: float = 1.8) -> plt.Figure:
    """A grid of images: ``rows[i][j]`` is a (C, H, W) tensor in [-1, 1] or an (H, W) map."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            if j < len(row):
                show(axes[i, j], row[j], col_labels[j] if (col_labels and i == 0) else "")
            else:
                axes[i, j].axis("off")
        if row_labels:
            axes[i, 0].text(-0.08, 0.5, row_labels[i], transform=axes[i, 0].transAxes, rotation=90,
                            ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


# matplotlib's player draws its buttons with Font Awesome from a CDN; plain characters keep
# the page self-contained (no request leaves the page, buttons still show offline).
BUTTON_GLYPHS = {"fa-minus": "&minus;", "fa-fast-backward": "&#x23EE;", "fa-step-backward": "&#x23F4;|",
                 "fa-play fa-flip-horizontal": "&#x25C0;", "fa-pause": "&#x23F8;", "fa-play": "&#x25B6;",
                 "fa-step-forward": "|&#x23F5;", "fa-fast-forward": "&#x23ED;", "fa-plus": "+"}


def offline_player(html: str) -> str:
    """Remove the player's only external resource (the icon font) and draw its buttons in text."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    return re.sub(r'<i class="fa ([^"]+)"></i>', lambda m: BUTTON_GLYPHS.get(m.group(1), "?"), html)


def figure_to_array(fig: plt.Figure) -> np.ndarray:
    """Render a matplotlib figure to an (H, W, 3) array in [0, 1] (to use a plot as a slider frame)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0


class HtmlPlayer:
    """A self-contained HTML snippet that Jupyter renders (``_repr_html_``); ``.data`` is the text."""

    def __init__(self, data: str):
        self.data = data

    def _repr_html_(self) -> str:
        return self.data


def frame_slider(frames: list[list], labels: list[str], panel_titles: list[str], size: float = 2.2,
                 cmap: str | None = None):
    """An offline slider over precomputed frames.

    ``frames[k]`` is the list of panels shown at slider position k (tensors in
    [-1, 1] or 2-D maps); ``labels[k]`` is its caption. Returns an :class:`HtmlPlayer`,
    which Jupyter displays as the player.
    """
    n_panels = len(frames[0])
    fig, axes = plt.subplots(1, n_panels, figsize=(size * n_panels, size + 0.5), squeeze=False)
    images = []
    for ax, panel, title in zip(axes[0], frames[0], panel_titles):
        array = as_array(panel)
        images.append(ax.imshow(array, cmap=cmap if array.ndim == 2 else None, vmin=0, vmax=1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    caption = fig.suptitle(labels[0], fontsize=10)

    def draw(k: int):
        for image, panel in zip(images, frames[k]):
            image.set_data(as_array(panel))
        caption.set_text(labels[k])
        return images

    player = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    html = offline_player(player.to_jshtml(fps=1, default_mode="once"))
    plt.close(fig)
    return HtmlPlayer(html)
