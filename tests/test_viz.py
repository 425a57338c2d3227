"""Tests of ganlib.viz: grid layout and range, the history figure, self-contained animations."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")  # no display: draw into memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ganlib.core.utils import GanlibError  # noqa: E402
from ganlib.eval import viz  # noqa: E402
from ganlib.eval.viz import (animate_snapshots, image_grid, plot_history, plot_points, show_images,  # noqa: E402
                        show_widget)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_image_grid_shape_and_layout():
    images = torch.zeros(12, 1, 28, 28)
    grid = image_grid(images, nrow=5, pad=2)
    # 12 images in rows of 5 -> 3 rows; each cell is 28 + 2 pad, plus a pad at the far edge
    assert grid.shape == (3 * 30 + 2, 5 * 30 + 2)
    assert grid.dtype == np.float32


def test_image_grid_maps_minus1_1_to_0_1_and_clips():
    images = torch.stack([torch.full((1, 4, 4), v) for v in (-1.0, 0.0, 1.0, 3.0, -3.0)])
    grid = image_grid(images, nrow=5, pad=1)
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    cell = lambda i: grid[1:5, 1 + i * 5: 5 + i * 5]  # noqa: E731
    assert np.all(cell(0) == 0.0) and np.all(cell(1) == 0.5) and np.all(cell(2) == 1.0)
    assert np.all(cell(3) == 1.0) and np.all(cell(4) == 0.0)
    assert grid[0, 0] == 1.0  # padding is white


def test_image_grid_accepts_numpy():
    assert image_grid(np.zeros((3, 1, 8, 8), dtype=np.float32), nrow=3, pad=0).shape == (8, 24)


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 3, 28, 28), (4, 2), (28, 28)])
def test_image_grid_rejects_non_grey_image_batches(shape):
    with pytest.raises(GanlibError, match=r"\(N, 1, H, W\)"):
        image_grid(torch.zeros(shape))


def test_show_images_returns_axes_with_the_grid():
    ax = show_images(torch.zeros(6, 1, 28, 28), nrow=3, title="six")
    assert ax.get_title() == "six"
    assert ax.images[0].get_array().shape == image_grid(torch.zeros(6, 1, 28, 28), nrow=3).shape


def test_plot_history_returns_a_figure_with_two_axes():
    history = {"step": [1, 2, 3], "d_loss": [1.4, 1.3, 1.2], "g_loss": [0.7, 0.8, 0.9],
               "d_real": [0.5, 0.6, 0.7], "d_fake": [0.5, 0.4, 0.3], "seconds": [0.1, 0.2, 0.3]}
    fig = plot_history(history, title="run")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    loss_ax, d_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), history["d_loss"])
    np.testing.assert_array_equal(d_ax.lines[1].get_ydata(), history["d_fake"])
    assert d_ax.get_ylim() == (0.0, 1.0)


def test_animate_snapshots_embeds_its_frames():
    g = torch.Generator().manual_seed(0)
    snapshots = [(step, torch.rand(4, 1, 8, 8, generator=g) * 2 - 1) for step in (10, 20, 30)]
    html = animate_snapshots(snapshots, nrow=2)
    text = html.data
    # self-contained: no script or image fetched over the network, frames inline as data URIs
    assert not re.search(r"""<script[^>]+src=["']?https?:""", text)
    assert not re.search(r"""src=["']?https?:""", text)
    assert text.count("data:image/png;base64") == 3


def test_animate_snapshots_without_snapshots_says_how_to_get_them():
    with pytest.raises(GanlibError, match="snapshot_every"):
        animate_snapshots([])


def test_animate_snapshots_of_2d_points_is_a_shape_error():
    with pytest.raises(GanlibError, match=r"\(N, 1, H, W\)"):
        animate_snapshots([(1, torch.zeros(16, 2))])


def test_plot_points_scatters_points_and_means():
    points = torch.randn(50, 2)
    ax = plot_points(points, means=np.zeros((8, 2)), lim=2, title="ring")
    assert len(ax.collections) == 2
    assert ax.collections[0].get_offsets().shape == (50, 2)
    assert ax.get_xlim() == (-2, 2) and ax.get_title() == "ring"


def test_show_widget_keeps_the_widget_view_and_replaces_its_repr(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    explorer = widgets.interactive(lambda a=1: a, {"manual": True}, a=widgets.IntSlider(value=1, max=3))
    show_widget(explorer, "an explorer: live in Jupyter")
    [(bundle, raw)] = shown
    assert raw and bundle["text/plain"] == "an explorer: live in Jupyter"  # not "interactive(children=..."
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id


def test_show_widget_draws_an_ipywidgets_7_widget_too(monkeypatch):
    # Colab ships ipywidgets 7.7, whose widgets have no _repr_mimebundle_: the view is built from the model id
    import IPython.display

    class Widget7:  # what show_widget may use of an ipywidgets 7 widget
        _view_name, _model_id, displayed = "VBoxView", "abc123", 0

        def _handle_displayed(self):
            self.displayed += 1

    shown, widget = [], Widget7()
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    show_widget(widget, "an explorer: live in Jupyter")
    [(bundle, raw)] = shown
    assert raw and bundle == {"application/vnd.jupyter.widget-view+json":
                              {"version_major": 2, "version_minor": 0, "model_id": "abc123"},
                              "text/plain": "an explorer: live in Jupyter"}
    assert widget.displayed == 1


def test_table_builds_markdown_with_formats_and_escaped_pipes():
    shown = viz.table([{"variant": "NS GAN", "FID": 12.345, "modes": 8},
                       {"variant": "a|b", "FID": 3.0, "modes": 10}],
                      formats={"FID": ".1f"}, note="*Two seeds.*")
    assert shown.data.splitlines() == ["| variant | FID | modes |", "|---|---|---|",
                                       "| NS GAN | 12.3 | 8 |", "| a\\|b | 3.0 | 10 |", "", "*Two seeds.*"]
    assert viz.table([{"x": 0.123456}]).data.splitlines()[2] == "| 0.123 |"


def test_table_rejects_ragged_or_empty_rows():
    with pytest.raises(GanlibError, match="every row needs the columns"):
        viz.table([{"a": 1, "b": 2}, {"b": 2, "a": 1}])
    with pytest.raises(GanlibError, match="at least one row"):
        viz.table([])
