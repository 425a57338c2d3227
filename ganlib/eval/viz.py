"""Pictures of a GAN run: image grids, training curves, 2-D densities and animations.

Holds: :func:`image_grid`, :func:`show_images`, :func:`plot_history`, :func:`animate_snapshots`,
:func:`plot_points`, and for 2-D data the discriminator's verdict on a grid: :func:`decision_surface`,
:func:`plot_decision_surface` and :func:`animate_decision_surfaces`; and :func:`show_widget`, which
displays an explorer's widgets with a one-line text for pages that cannot draw them. Every function
returns a matplotlib object, an array (or HTML for animations) and draws nothing it was not asked to. It
does not hold metrics or training code.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from ..core.utils import GanlibError

__all__ = ["image_grid", "show_images", "plot_history", "animate_snapshots", "plot_points",
           "decision_surface", "plot_decision_surface", "animate_decision_surfaces", "show_widget"]


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


SURFACE_LEVELS = np.linspace(0.0, 1.0, 11)  # contour levels of D(x): bands of 0.1
SURFACE_CMAP = "RdBu"                       # red: D says "fake" (D near 0); blue: "real" (D near 1)


def _as_numpy_points(points) -> np.ndarray:
    p = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise GanlibError(f"points must have shape (N, 2), got {p.shape}")
    return p


@torch.no_grad()
def decision_surface(discriminator: torch.nn.Module, *, lim: float = 2.0, resolution: int = 101) -> np.ndarray:
    """Evaluate D(x) = sigmoid(logit) on a square grid over ``[-lim, lim]^2`` (2-D data only).

    Parameters
    ----------
    discriminator : nn.Module
        Maps points ``(B, 2)`` to logits ``(B,)``. It is evaluated in eval mode and left in the
        mode it was in.
    lim : float
        Half-width of the square.
    resolution : int
        Grid points per side: ``xs = ys = np.linspace(-lim, lim, resolution)``.

    Returns
    -------
    np.ndarray
        ``(resolution, resolution)`` float32 in [0, 1]; entry ``[i, j]`` is D at ``(xs[j], ys[i])``
        (rows are y, as ``plt.contourf(xs, ys, surface)`` expects).
    """
    if not (isinstance(resolution, int) and resolution >= 2):
        raise GanlibError(f"resolution must be an integer >= 2, got {resolution!r}")
    if not (np.isfinite(lim) and lim > 0):
        raise GanlibError(f"lim must be a positive number, got {lim!r}")
    param = next(discriminator.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    ticks = torch.linspace(-lim, lim, resolution)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")                  # (R, R) each, rows = y
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)          # (R*R, 2) points (x, y)
    was_training = discriminator.training
    discriminator.eval()
    try:
        logits = discriminator(grid.to(device)).float().cpu()            # (R*R,)
    finally:
        discriminator.train(was_training)
    return torch.sigmoid(logits).reshape(resolution, resolution).numpy()


def plot_decision_surface(discriminator, points=None, real=None, *, ax=None, lim: float = 2.0,
                          resolution: int = 101, title: str | None = None, colorbar: bool = True):
    """Draw D(x) as filled contours with its ½ line, over generated and real 2-D points; returns the Axes.

    Parameters
    ----------
    discriminator : nn.Module or np.ndarray
        The discriminator, or a surface already computed by :func:`decision_surface` with the
        same ``lim``.
    points : array-like or torch.Tensor, optional
        Generated points ``(N, 2)``, drawn in orange.
    real : array-like or torch.Tensor, optional
        Real points ``(M, 2)``, drawn in black.
    ax : matplotlib Axes, optional
    lim : float
        Half-width of the square shown (and of the grid D is evaluated on).
    resolution : int
        Grid points per side when ``discriminator`` is a module.
    title : str, optional
    colorbar : bool
        Add a colour bar labelled D(x).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(discriminator, torch.nn.Module):
        surface = decision_surface(discriminator, lim=lim, resolution=resolution)
    else:
        surface = np.asarray(discriminator, dtype=np.float32)
        if surface.ndim != 2 or surface.shape[0] != surface.shape[1] or surface.shape[0] < 2:
            raise GanlibError(f"a precomputed surface must be a square (R, R) array, got {surface.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4))
    _draw_surface(ax, surface, lim,
                  None if points is None else _as_numpy_points(points),
                  None if real is None else _as_numpy_points(real))
    if colorbar:
        ax.figure.colorbar(ax.collections[0], ax=ax, label="D(x)", ticks=[0, 0.25, 0.5, 0.75, 1])
    if title:
        ax.set_title(title)
    return ax


def _draw_surface(ax, surface: np.ndarray, lim: float, points, real) -> None:
    ticks = np.linspace(-lim, lim, surface.shape[0])
    ax.contourf(ticks, ticks, surface, levels=SURFACE_LEVELS, cmap=SURFACE_CMAP, vmin=0, vmax=1)
    if surface.min() < 0.5 < surface.max():  # D's decision boundary, where it is indifferent
        ax.contour(ticks, ticks, surface, levels=[0.5], colors="k", linewidths=0.8, linestyles="--")
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=3, c="tab:orange", alpha=0.6, label="generated")
    if real is not None:  # on top: the target stays visible under a crowd of samples
        ax.scatter(real[:, 0], real[:, 1], s=2, c="k", alpha=0.6, label="real")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")


def animate_decision_surfaces(frames: list, real=None, *, lim: float = 2.0, interval_ms: int = 300,
                              size: float = 4.2):
    """Animate D's surface and G's samples over training as self-contained HTML (``to_jshtml``).

    Parameters
    ----------
    frames : list of tuple
        One ``(step, surface, points)`` per frame: the generator step (int), a surface from
        :func:`decision_surface` (same ``lim``) and the generated points ``(N, 2)`` at that step.
    real : array-like or torch.Tensor, optional
        Real points ``(M, 2)`` drawn in every frame.
    lim : float
        Half-width of the square shown.
    interval_ms : int
        Milliseconds between frames.
    size : float
        Figure height in inches.

    Returns
    -------
    IPython.display.HTML
        The frames are embedded as images in the page, so the animation plays offline.
    """
    from IPython.display import HTML

    if not frames:
        raise GanlibError("no frames: record (step, decision_surface(D), samples) during training, "
                          "e.g. in a train(..., callback=...) function")
    prepared = [(int(step), np.asarray(surface, dtype=np.float32), _as_numpy_points(points))
                for step, surface, points in frames]
    real_np = None if real is None else _as_numpy_points(real)
    fig, ax = plt.subplots(figsize=(size * 1.1, size))
    _draw_surface(ax, prepared[0][1], lim, prepared[0][2], real_np)
    fig.colorbar(ax.collections[0], ax=ax, label="D(x)", ticks=[0, 0.25, 0.5, 0.75, 1])

    def draw(i):
        step, surface, points = prepared[i]
        ax.clear()  # contour sets cannot be updated in place: redraw the frame
        _draw_surface(ax, surface, lim, points, real_np)
        ax.set_title(f"generator step {step}")
        return ()

    anim = animation.FuncAnimation(fig, draw, frames=len(prepared), interval=interval_ms, blit=False)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html


def show_widget(widget, note: str) -> None:
    """Display an ipywidgets widget, with ``note`` as its plain-text form.

    A live notebook (Jupyter, Colab) draws the widget. A page that cannot (the built HTML book, a
    terminal) shows a displayed widget's plain text instead, which ipywidgets makes its repr (the
    widget's class with every child widget spelled out); here it is ``note``, one line saying what
    the widget does and where to use it.

    Parameters
    ----------
    widget : ipywidgets.Widget
        The widget, e.g. ``ipywidgets.interactive(f, {"manual": True}, x=IntSlider(...))``.
    note : str
        What a page without widgets shows in its place.
    """
    from IPython.display import display

    if hasattr(widget, "_repr_mimebundle_"):  # ipywidgets 8: the widget view, for a front end that can draw it
        bundle = dict(widget._repr_mimebundle_())
    else:  # ipywidgets 7 (Colab's 7.7) has no such method: the same view, as its _ipython_display_ builds it
        bundle = {} if widget._view_name is None else {"application/vnd.jupyter.widget-view+json": {
            "version_major": 2, "version_minor": 0, "model_id": widget._model_id}}
    bundle["text/plain"] = note
    display(bundle, raw=True)
    if not hasattr(widget, "_repr_mimebundle_") and widget._view_name is not None:
        widget._handle_displayed()  # ipywidgets 7 runs the widget's on_displayed callbacks here
