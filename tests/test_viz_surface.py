"""Tests of ganlib.viz's 2-D decision surfaces: grid layout, range, mode handling, offline animation."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")  # no display: draw into memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ganlib.core.utils import GanlibError  # noqa: E402
from ganlib.eval.viz import animate_decision_surfaces, decision_surface, plot_decision_surface  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class XMinusTwoY(nn.Module):
    """A discriminator with logit = x - 2y: its surface is not symmetric, so the layout is testable."""

    def forward(self, points):
        return points[:, 0] - 2 * points[:, 1]


def test_decision_surface_layout_rows_are_y_columns_are_x():
    surface = decision_surface(XMinusTwoY(), lim=1.0, resolution=3)  # ticks -1, 0, 1
    ticks = np.array([-1.0, 0.0, 1.0])
    expected = 1 / (1 + np.exp(-(ticks[None, :] - 2 * ticks[:, None])))  # [i, j] at (x=ticks[j], y=ticks[i])
    assert surface.shape == (3, 3)
    np.testing.assert_allclose(surface, expected, rtol=1e-6)


def test_decision_surface_is_a_probability_and_leaves_the_mode_alone():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 1), nn.Flatten(0))
    d.train()
    first = decision_surface(d, lim=2.0, resolution=11)
    assert d.training  # restored
    np.testing.assert_array_equal(first, decision_surface(d, lim=2.0, resolution=11))  # eval mode: no dropout
    assert first.dtype == np.float32 and first.min() >= 0 and first.max() <= 1


@pytest.mark.parametrize("kwargs", [{"resolution": 1}, {"resolution": 2.5}, {"lim": 0.0}, {"lim": float("nan")}])
def test_decision_surface_rejects_bad_grids(kwargs):
    with pytest.raises(GanlibError):
        decision_surface(XMinusTwoY(), **kwargs)


def test_plot_decision_surface_draws_surface_boundary_and_points():
    real, fake = torch.randn(30, 2), torch.randn(20, 2)
    ax = plot_decision_surface(XMinusTwoY(), fake, real=real, lim=1.5, resolution=21, title="D")
    assert ax.get_title() == "D" and ax.get_xlim() == (-1.5, 1.5)
    offsets = [c.get_offsets().shape for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets())]
    assert (30, 2) in offsets and (20, 2) in offsets
    assert len(ax.figure.axes) == 2  # the plot and its colour bar


def test_plot_decision_surface_accepts_a_precomputed_surface():
    surface = decision_surface(XMinusTwoY(), lim=1.0, resolution=9)
    ax = plot_decision_surface(surface, lim=1.0, colorbar=False)
    assert len(ax.figure.axes) == 1


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), np.zeros(5)])
def test_plot_decision_surface_rejects_non_square_surfaces(bad):
    with pytest.raises(GanlibError, match="square"):
        plot_decision_surface(bad)


def test_plot_decision_surface_rejects_points_that_are_not_2d():
    with pytest.raises(GanlibError, match=r"\(N, 2\)"):
        plot_decision_surface(XMinusTwoY(), torch.zeros(5, 3))


def test_animate_decision_surfaces_embeds_every_frame_offline():
    surface = decision_surface(XMinusTwoY(), lim=1.0, resolution=9)
    frames = [(step, surface * (step / 30), torch.randn(10, 2)) for step in (10, 20, 30)]
    text = animate_decision_surfaces(frames, real=torch.randn(5, 2), lim=1.0).data
    assert not re.search(r"""src=["']?https?:""", text)
    assert text.count("data:image/png;base64") == 3


def test_animate_decision_surfaces_without_frames_says_how_to_record_them():
    with pytest.raises(GanlibError, match="callback"):
        animate_decision_surfaces([])
