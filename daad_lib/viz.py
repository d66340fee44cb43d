"""Figures for the book and the CLI: image grids and offline sliders.

:func:`frame_slider` turns precomputed frames into matplotlib's JavaScript
animation player (``to_jshtml``): a self-contained HTML slider that works in
Jupyter and in the built book with no kernel and no internet. Live ipywidgets
sliders recompute in a running kernel; this one replays what was computed.
"""
from __future__ import annotations

import re
from html import escape

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


def heatmap_overlay(ax, image, amap, alpha: float = 0.5, cmap: str = "jet"):
    """Draw ``image`` (a PIL image, an (H, W[, 3]) array in [0, 1], or a (C, H, W) tensor in
    [-1, 1]) with the anomaly map ``amap`` over it in ``cmap`` at ``alpha``; the map is
    stretched over the image if their sizes differ. Returns the map's artist (for a colour bar).
    Used by ``daad score``, the book and anyone who calls :meth:`Detector.predict`."""
    array = np.asarray(image) / 255.0 if not isinstance(image, (np.ndarray, torch.Tensor)) else as_array(image)
    height, width = array.shape[:2]
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=1)
    shown = ax.imshow(np.asarray(amap, dtype=float), cmap=cmap, alpha=alpha, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    ax.axis("off")
    return shown


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


def frame_slider(frames: list[list], labels: list[str], panel_titles: list[str], *, alt: str,
                 size: float = 2.2, cmap: str | None = None):
    """An offline slider over precomputed frames.

    ``frames[k]`` is the list of panels shown at slider position k (tensors in
    [-1, 1] or 2-D maps); ``labels[k]`` is its caption. ``alt`` describes the pictures for a
    reader who cannot see them (the player's ``<img>`` keeps it at every position; the
    chapter's cell metadata gives the figure its caption). Returns an :class:`HtmlPlayer`,
    which Jupyter displays as the player.

    >>> import numpy as np
    >>> player = frame_slider([[np.zeros((4, 4))], [np.ones((4, 4))]], ["dark", "bright"], ["image"],
    ...                       alt="A square that turns from black to white")
    >>> 'alt="A square that turns from black to white"' in player.data
    True
    """
    if not alt.strip():
        raise ValueError("frame_slider needs alt text: say what the pictures show")
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
    html = with_alt_text(offline_player(player.to_jshtml(fps=1, default_mode="once")), alt)
    plt.close(fig)
    return HtmlPlayer(html)


def with_alt_text(html: str, alt: str) -> str:
    """Give the player's picture (``<img id="_anim_img...">``) its alt text."""
    return re.sub(r'<img id="(_anim_img[^"]*)"', lambda m: f'<img id="{m.group(1)}" alt="{escape(alt)}"', html)


# ---------------------------------------------------------------------------------------------
# Diagrams drawn from a ModelConfig (the paper's Fig. 3 and Fig. 4), so a picture can never
# disagree with the model the library builds.

ENCODER, MEMORY, DECODER, DISCRIMINATOR = "#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc"


def box(ax, x: float, y: float, text: str, color: str, width: float = 1.5, height: float = 0.62) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.03",
                                facecolor=color, edgecolor="0.3", linewidth=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=7.5)


def arrow(ax, start: tuple, end: tuple, style: str = "-|>", color: str = "0.25", dashed: bool = False) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=color, lw=0.9,
                                                          linestyle="--" if dashed else "-"))


def shape_text(shape: tuple) -> str:
    return "×".join(str(s) for s in shape)


def draw_architecture(config) -> plt.Figure:
    """Fig. 3 of the paper for ``config``: encoder stages, one memory per connection (with its
    rates, N, Q and D) and the decoder; shapes are read from the model the library builds."""
    from .networks import Generator

    generator = Generator(config)
    shapes, depth = config.feature_shapes(), config.depth
    fig, ax = plt.subplots(figsize=(9.5, 1.15 * (depth + 2)))
    top = depth + 0.6
    box(ax, 0, top, f"input x\n{shape_text((config.channels, config.image_size, config.image_size))}", "white")
    box(ax, 6, top, f"reconstruction x̂\n{shape_text((config.channels, config.image_size, config.image_size))}", "white")
    previous = (0, top)
    for scale in range(depth):
        y = depth - 1 - scale
        box(ax, 0, y, f"$G_E$ stage {scale + 1}: 4×4 conv, stride 2\n$f_{scale + 1}$: {shape_text(shapes[scale])}",
            ENCODER, width=2.1)
        arrow(ax, (previous[0], previous[1] - 0.31), (0, y + 0.31))
        previous = (0, y)
        connected = scale == depth - 1 or config.skips
        if connected and str(scale) in generator.memories:
            memory = generator.memories[str(scale)]
            box(ax, 3, y, f"memory {scale + 1}: rates {memory.rates}\nN = {memory.num_items}, "
                          f"Q = {memory.num_blocks}, D = {memory.block_dim}", MEMORY, width=2.3)
            arrow(ax, (1.05, y), (1.85, y))
            arrow(ax, (4.15, y), (4.95, y))
        elif connected:
            arrow(ax, (1.05, y), (4.95, y))
            ax.text(3, y + 0.12, "skip (no memory)" if scale < depth - 1 else "bottleneck",
                    ha="center", fontsize=7)
        out_channels = config.channels if scale == 0 else config.widths[scale - 1]
        box(ax, 6, y, f"$G_D$ stage {scale + 1}: 4×4 transposed conv\nto {out_channels} channels,"
                      f" ×2 size", DECODER, width=2.1)
        if scale < depth - 1:
            arrow(ax, (6, y - 1 + 0.31), (6, y - 0.31))
    arrow(ax, (6, 0.31 + depth - 1), (6, top - 0.31))
    memories = "block-wise memory on every connection" if config.memory == "all" else \
        {"none": "no memory", "bottleneck": "memory at the bottleneck only"}[config.memory]
    ax.set_title(f"{config.variant} at {config.image_size} px: {depth} scales, "
                 f"{'skip connections, ' if config.skips else 'no skips, '}{memories}", fontsize=9)
    ax.set_xlim(-1.4, 7.4)
    ax.set_ylim(-0.6, top + 0.5)
    ax.axis("off")
    fig.tight_layout()
    return fig


def discriminator_shapes(config) -> list[tuple[int, int, int]]:
    """(C, H, W) after every stage of the DCGAN discriminator the library builds for ``config``."""
    from .networks import Discriminator

    discriminator = Discriminator(config).eval()
    shapes, h = [], torch.zeros(1, config.channels, config.image_size, config.image_size)
    with torch.no_grad():
        for stage in discriminator.features:
            h = stage(h)
            shapes.append(tuple(h.shape[1:]))
    return shapes


def draw_discriminator(config) -> plt.Figure:
    """Fig. 4 of the paper for ``config``: the generator's x̂ and the input x both pass through
    the discriminator D; its last convolutional features f_D give L_ali / L(x), its logit L_adv."""
    shapes = discriminator_shapes(config)
    fig, ax = plt.subplots(figsize=(10, 2.8))
    box(ax, 0, 1.2, "input x", "white", width=1.1)
    box(ax, 0, 0, "generator G\n(Fig. 3)", ENCODER, width=1.1)
    box(ax, 0, -1.2, "reconstruction x̂", "white", width=1.3)
    arrow(ax, (0, 0.89), (0, 0.31))
    arrow(ax, (0, -0.31), (0, -0.89))
    x = 1.9
    for index, shape in enumerate(shapes):
        box(ax, x, 0, f"D stage {index + 1}\n{shape_text(shape)}", DISCRIMINATOR, width=1.25)
        arrow(ax, (x - 1.6 + 0.62 if index else 0.6, 0 if index else 1.0), (x - 0.63, 0.1 if not index else 0))
        if index == 0:
            arrow(ax, (0.68, -1.2), (x - 0.63, -0.1))
        x += 1.6
    last, x = x - 1.6, x + 0.5
    box(ax, x, 0.75, "4×4 conv → logit\nreal or fake: $\\mathcal{L}_{adv}$", "white", width=1.6)
    box(ax, x, -0.75, "$f_D(x)$, $f_D(\\hat{x})$\n$\\mathcal{L}_{ali}$ (training), $L(x)$ (test)",
        MEMORY, width=1.9)
    arrow(ax, (last + 0.63, 0.1), (x - 0.8, 0.7))
    arrow(ax, (last + 0.63, -0.1), (x - 0.95, -0.7))
    ax.set_title(f"DAAD+ discriminator (DCGAN) at {config.image_size} px: {len(shapes)} stride-2 stages "
                 f"down to {shape_text(shapes[-1])}", fontsize=9)
    ax.set_xlim(-0.8, x + 1.1)
    ax.set_ylim(-1.7, 1.7)
    ax.axis("off")
    fig.tight_layout()
    return fig


def addressing_grid(ax, image, weights: torch.Tensor, rates: tuple[int, int, int], title: str = "") -> None:
    """Overlay on ``image`` the memory item each block reads most (its index) and that item's
    weight (colour). ``weights`` (Q, N) are one image's addressing weights, blocks ordered
    as :func:`daad_lib.memory.divide` orders them; only the first channel group is drawn."""
    r_h, r_w, _ = rates
    top_weight, top_item = weights[: r_h * r_w].max(dim=-1)  # (r_h * r_w,)
    array = as_array(image)
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=1)
    height, width = array.shape[:2]
    grid = top_weight.reshape(r_h, r_w).numpy()
    shown = ax.imshow(grid, cmap="viridis", alpha=0.55, extent=(0, width, height, 0), vmin=0,
                      vmax=max(float(grid.max()), 1e-6), interpolation="nearest")
    for row in range(r_h):
        for col in range(r_w):
            ax.text((col + 0.5) * width / r_w, (row + 0.5) * height / r_h, str(int(top_item[row * r_w + col])),
                    ha="center", va="center", fontsize=max(5, 9 - r_w // 4), color="white")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="largest weight")
