"""Pictures of a GAN run: image grids, training curves, 2-D densities and animations.

Holds: :func:`image_grid`, :func:`show_images`, :func:`plot_history`, :func:`animate_snapshots`
and :func:`plot_points`. Every function returns a matplotlib object (or HTML for animations) and
draws nothing it was not asked to. It does not hold metrics or training code.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from .utils import GanlibError

__all__ = ["image_grid", "show_images", "plot_history", "animate_snapshots", "plot_points"]


def image_grid(images: torch.Tensor | np.ndarray, nrow: int = 10, pad: int = 2) -> np.ndarray:
    """Tile images ``(N, 1, H, W)`` in [-1, 1] into one ``(rows*(H+pad), nrow*(W+pad))`` array in [0, 1].

    Parameters
    ----------
    images : tensor or array
        ``(N, 1, H, W)`` grey images in ``[-1, 1]``.
    nrow : int
        Images per row.
    pad : int
        Pixels of white space between images.

    Returns
    -------
    np.ndarray
        A 2-D float array in [0, 1], ready for ``plt.imshow(..., cmap="gray")``.
    """
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 1:
        raise GanlibError(f"image_grid expects grey images (N, 1, H, W), got shape {x.shape}")
    n, _, h, w = x.shape
    rows = -(-n // nrow)
    grid = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i, img in enumerate(np.clip((x[:, 0] + 1) / 2, 0, 1)):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return grid


def show_images(images, nrow: int = 10, title: str | None = None, ax=None, size: float = 5.0):
    """Show a grid of images; returns the matplotlib Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * (-(-len(images) // nrow)) / nrow))
    ax.imshow(image_grid(images, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: dict, title: str | None = None):
    """Plot the losses and D's mean outputs D(x), D(G(z)) against the step; returns the Figure.

    Parameters
    ----------
    history : dict
        ``run.history`` from :func:`ganlib.train` (keys ``step``, ``d_loss``, ``g_loss``,
        ``d_real``, ``d_fake``).
    title : str, optional
    """
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax_loss.plot(history["step"], history["d_loss"], label="d_loss")
    ax_loss.plot(history["step"], history["g_loss"], label="g_loss")
    ax_loss.set_xlabel("generator step")
    ax_loss.set_title("losses")
    ax_loss.legend()
    ax_d.plot(history["step"], history["d_real"], label="mean D(x)")
    ax_d.plot(history["step"], history["d_fake"], label="mean D(G(z))")
    ax_d.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("generator step")
    ax_d.set_title("discriminator outputs")
    ax_d.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def animate_snapshots(snapshots: list, nrow: int = 8, interval_ms: int = 400, size: float = 4.0):
    """Animate ``run.snapshots`` (samples at fixed noise over training) as self-contained HTML.

    The frames are embedded as images in the page (``to_jshtml``), so the animation plays in a
    static HTML book with no network.

    Returns
    -------
    IPython.display.HTML
    """
    from IPython.display import HTML

    if not snapshots:
        raise GanlibError("no snapshots: train with TrainConfig(snapshot_every=N) to record them")
    fig, ax = plt.subplots(figsize=(size, size))
    ax.set_axis_off()
    im = ax.imshow(image_grid(snapshots[0][1], nrow), cmap="gray", vmin=0, vmax=1)
    title = ax.set_title(f"step {snapshots[0][0]}")

    def draw(i):
        im.set_data(image_grid(snapshots[i][1], nrow))
        title.set_text(f"step {snapshots[i][0]}")
        return im, title

    anim = animation.FuncAnimation(fig, draw, frames=len(snapshots), interval=interval_ms, blit=False)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html


def plot_points(points, means=None, ax=None, title: str | None = None, lim: float | None = None):
    """Scatter 2-D samples ``(N, 2)``, with the mixture's means as crosses; returns the Axes."""
    p = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.4)
    if means is not None:
        m = np.asarray(means)
        ax.scatter(m[:, 0], m[:, 1], marker="x", color="red", s=30)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax
