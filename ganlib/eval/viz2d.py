"""Pictures of 2-D data: samples as points, and the discriminator's verdict over the plane.

Holds: :func:`plot_points`, and for 2-D data the discriminator's verdict on a grid:
:func:`decision_surface`, :func:`plot_decision_surface` and :func:`animate_decision_surfaces`. Every
function returns a matplotlib object, an array (or HTML for animations) and draws nothing it was not
asked to. It does not hold pictures of images or training curves (:mod:`.viz`, which re-exports these
names) or the 2-D metrics (:mod:`.metrics2d`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from ..core.utils import GanlibError

__all__ = ["plot_points", "decision_surface", "plot_decision_surface", "animate_decision_surfaces",
           "SURFACE_LEVELS", "SURFACE_CMAP"]


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
