"""Tests of ganlib.augment: the translation against a loop over pixels, its gradient, its modes."""

from __future__ import annotations

import pytest
import torch

from ganlib.core.augment import Translated, translate
from ganlib.core.utils import GanlibError


def _shifted_by_hand(image: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """out[:, r, c] = image[:, r + dy, c + dx] where that pixel exists, else fill."""
    out = torch.full_like(image, fill)
    _, h, w = image.shape
    for r in range(h):
        for c in range(w):
            if 0 <= r + dy < h and 0 <= c + dx < w:
                out[:, r, c] = image[:, r + dy, c + dx]
    return out


def test_translate_equals_a_shift_pixel_by_pixel_with_the_drawn_offsets():
    x = torch.randn(8, 2, 5, 7)
    shift, fill = 2, -1.0
    y = translate(x, shift, fill=fill, generator=torch.Generator().manual_seed(3))
    offsets = torch.randint(0, 2 * shift + 1, (2, 8, 1, 1), generator=torch.Generator().manual_seed(3))
    assert len(set(offsets.flatten().tolist())) > 1, "the draw should hold different shifts"
    for i in range(8):
        dy, dx = int(offsets[0, i]) - shift, int(offsets[1, i]) - shift
        assert torch.equal(y[i], _shifted_by_hand(x[i], dy, dx, fill)), i


def test_translate_keeps_each_image_whole_when_it_fits_and_zero_shift_is_identity():
    x = torch.full((64, 1, 9, 9), -1.0)
    x[:, :, 3:6, 3:6] = 1.0  # a blob 3 px from every border survives any shift of <= 3 px
    y = translate(x, 3)
    assert torch.equal(y.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert not torch.equal(y, x)
    assert translate(x, 0) is x


def test_gradient_flows_through_the_shift_to_every_kept_pixel():
    x = torch.randn(4, 1, 6, 6, requires_grad=True)
    translate(x, 1).sum().backward()
    # each output pixel is one input pixel or the fill, so gradients are 0 or 1
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0} and x.grad.sum() > 0


def test_translated_shifts_in_training_and_passes_through_in_eval_mode():
    wrapped = Translated(torch.nn.Flatten(), shift=2)
    x = torch.randn(16, 1, 8, 8)
    wrapped.train()
    assert not torch.equal(wrapped(x), x.flatten(1))
    wrapped.eval()
    assert torch.equal(wrapped(x), x.flatten(1))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_shifts_are_refused(bad):
    with pytest.raises(GanlibError, match="shift"):
        translate(torch.zeros(1, 1, 4, 4), bad)
    with pytest.raises(GanlibError, match="shift"):
        Translated(torch.nn.Identity(), bad)


def test_translate_refuses_non_images():
    with pytest.raises(GanlibError, match=r"\(B, C, H, W\)"):
        translate(torch.zeros(4, 784), 2)
