"""Pictures of a GAN run: image grids, training curves, animations, and widgets with a text fallback.

Holds: :func:`image_grid`, :func:`show_images`, :func:`plot_history`, :func:`animate_snapshots`,
:func:`show_widget`, which displays an explorer's widgets with a one-line text for pages that cannot
draw them, and :func:`table`, the one way the chapters show a table of results. Every function returns a matplotlib object, an array (or HTML for animations) and draws
nothing it was not asked to. The pictures of 2-D data (:func:`plot_points` and D's decision surface)
are in :mod:`.viz2d` and re-exported here, so ``ganlib.viz.<name>`` reaches every picture. It does not
hold metrics or training code.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from ..core.utils import GanlibError
from .viz2d import animate_decision_surfaces, decision_surface, plot_decision_surface, plot_points

__all__ = ["image_grid", "show_images", "plot_history", "animate_snapshots", "show_widget", "table"]

#: The pictures of 2-D data, defined (and documented) in :mod:`.viz2d` and re-exported here.
REEXPORTED = (plot_points, decision_surface, plot_decision_surface, animate_decision_surfaces)


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


def _cell(value, fmt: str | None) -> str:
    if fmt is not None and not isinstance(value, str):
        text = format(value, fmt)
    elif isinstance(value, float):
        text = f"{value:.3g}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows, *, formats: dict | None = None, note: str | None = None):
    """A list of rows as a Markdown table, displayed as a table in Jupyter, Colab and the built book.

    Parameters
    ----------
    rows : list of dict
        One dict per row, column name to value; the first row's keys are the columns, in their order,
        and every row must have the same keys.
    formats : dict, optional
        Column name to a format spec for its non-string values, e.g. ``{"MNIST-FID": ".0f"}``; other
        floats are shown with 3 significant digits, strings as they are.
    note : str, optional
        A line of Markdown under the table (what was measured, over which seeds).

    Returns
    -------
    IPython.display.Markdown
        Shown when it is a cell's last expression, or with ``display(...)``; its ``.data`` is the text.
    """
    from IPython.display import Markdown

    rows = list(rows)
    if not rows:
        raise GanlibError("table() needs at least one row")
    columns = list(rows[0])
    for row in rows[1:]:
        if list(row) != columns:
            raise GanlibError(f"table(): every row needs the columns {columns}, in that order; got {list(row)}")
    formats = formats or {}
    lines = ["| " + " | ".join(_cell(c, None) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c], formats.get(c)) for c in columns) + " |" for row in rows]
    return Markdown("\n".join(lines) + (f"\n\n{note}" if note else ""))
