"""Models: causality (exhaustive over pixel pairs), shapes, levels, input validation."""

from __future__ import annotations

import pytest
import torch

import pixelcnn
from pixelcnn.core.layers import MaskedConv, ShiftedConv
from pixelcnn.core.models import ARCHS

H = W = 6
CAUSAL = [
    ("simple", {}),
    ("simple", {"layers": 1, "kernel_size": 3, "first_kernel_size": 3, "residual": False}),
    ("simple", {"layers": 3, "kernel_size": 5, "first_kernel_size": 5, "channels": 8}),
    ("simple", {"layers": 2, "shifted": False, "channels": 8}),
    ("simple", {"levels": 4, "channels": 8}),
    ("gated", {"channels": 8}),
    ("gated", {"channels": 8, "levels": 3}),
]


def dependency(model: torch.nn.Module, levels: int) -> torch.Tensor:
    """D[i, j] = True when changing input pixel j (raster index) changes the output at pixel i."""
    base = torch.randint(0, levels, (1, 1, H, W))
    batch = base.repeat(H * W + 1, 1, 1, 1)
    for j in range(H * W):
        batch[j + 1, 0, j // W, j % W] = (base[0, 0, j // W, j % W] + 1) % levels
    with torch.no_grad():
        out = model(batch).double()  # [N, L, 1, H, W]
    change = (out[1:] - out[:1]).abs().amax(dim=(1, 2)).flatten(1)  # [j, i]
    return (change > 1e-6).T


@pytest.mark.parametrize("arch,kwargs", CAUSAL)
def test_causal_models_see_only_earlier_pixels(arch, kwargs):
    model = pixelcnn.build(arch, **kwargs).eval()
    d = dependency(model, kwargs.get("levels", 256))
    n = H * W
    assert not d[torch.ones(n, n, dtype=torch.bool).triu()].any(), "output depends on a pixel at or after it"
    assert d[1:].any(dim=1).all(), "some pixel's output ignores every earlier pixel"


@pytest.mark.parametrize("arch,kwargs", [("simple", {}), ("simple", {"layers": 3, "kernel_size": 5, "channels": 8}),
                                         ("gated", {"channels": 8})])
def test_no_blind_spot_every_earlier_pixel_is_seen(arch, kwargs):
    """With a receptive field as large as the image, the output at pixel i depends on every pixel before it,
    the pixels above and to the right included (the blind spot of a single masked stack)."""
    from pixelcnn.core.inference import dependency_map

    model = pixelcnn.build(arch, **kwargs).eval()
    x = torch.randint(0, 256, (1, 1, H, W))
    for i in range(1, H * W):  # gradients: exactly zero only where no path of weights connects the two
        seen = dependency_map(model, x, i).flatten()[:i] != 0
        assert seen.all(), f"pixel {i} never sees earlier pixels {(~seen).nonzero().flatten().tolist()} (a blind spot)"


@pytest.mark.parametrize("kwargs", [{}, {"layers": 2, "kernel_size": 5, "channels": 8}])
def test_noncausal_model_sees_its_own_pixel(kwargs):
    d = dependency(pixelcnn.build("noncausal", **kwargs).eval(), 256)
    assert d.diagonal().all(), "the non-causal model should depend on the pixel it predicts"
    assert not d[torch.ones(H * W, H * W, dtype=torch.bool).triu(1)].any(), "it must not see later pixels"


@pytest.mark.parametrize("direction", ["vertical", "horizontal"])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("mask_center", [False, True])
@pytest.mark.parametrize("dilation", [1, 2])
def test_shifted_conv_equals_masked_conv(direction, kernel_size, mask_center, dilation):
    masked = MaskedConv(3, 4, direction, kernel_size, mask_center, dilation)
    shifted = ShiftedConv(3, 4, direction, kernel_size, mask_center, dilation)
    shifted.copy_from_masked(masked)
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(shifted(x), masked(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("levels,size", [(256, (28, 28)), (4, (3, 5)), (2, (1, 1))])
def test_output_shape_and_bits_per_dim(arch, levels, size):
    model = pixelcnn.build(arch, levels=levels, channels=8)
    x = torch.randint(0, levels, (3, 1, *size))
    assert model(x).shape == (3, levels, 1, *size)
    bpd = pixelcnn.bits_per_dim(model, x)
    assert bpd.shape == (3,) and (bpd > 0).all()


def test_bits_per_dim_is_differentiable_for_training_and_graph_free_under_no_grad():
    model = pixelcnn.build("simple", channels=4, layers=1, levels=4)
    x = torch.randint(0, 4, (2, 1, 3, 3))
    loss = pixelcnn.bits_per_dim(model, x).mean()
    loss.backward()  # the training loss
    assert model.out.weight.grad is not None
    with torch.no_grad():
        assert not pixelcnn.bits_per_dim(model, x).requires_grad


def test_bits_per_dim_of_uniform_model_is_eight():
    model = pixelcnn.build("simple", channels=4)
    torch.nn.init.zeros_(model.out.weight)
    torch.nn.init.zeros_(model.out.bias)
    bpd = pixelcnn.bits_per_dim(model, torch.randint(0, 256, (2, 1, 5, 5)))
    torch.testing.assert_close(bpd, torch.full((2,), 8.0))


@pytest.mark.parametrize("x,message", [
    (torch.zeros(2, 1, 4, 4), "integer"),
    (torch.zeros(2, 4, 4, dtype=torch.long), "shape"),
    (torch.zeros(2, 3, 4, 4, dtype=torch.long), "shape"),
    (torch.full((1, 1, 4, 4), 256), "0..255"),
    (torch.full((1, 1, 4, 4), -1), "0..255"),
    (torch.zeros(1, 1, 0, 4, dtype=torch.long), "H, W >= 1"),
])
def test_bad_input_raises_value_error(x, message):
    with pytest.raises(ValueError, match=message):
        pixelcnn.build("simple", channels=4)(x)


@pytest.mark.parametrize("arch,kwargs,message", [
    ("pixelrnn", {}, "unknown architecture"),
    ("simple", {"chanels": 4}, "unknown option"),
    ("gated", {"layers": 3}, "unknown option"),
    ("noncausal", {"causal": True}, "unknown option"),
    ("simple", {"kernel_size": 4}, "odd"),
    ("simple", {"first_kernel_size": 1}, ">= 3"),
    ("simple", {"channels": 0}, "channels >= 1"),
])
def test_bad_build_arguments(arch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pixelcnn.build(arch, **kwargs)


def test_gated_architecture_matches_the_course_parameter_count():
    assert pixelcnn.count_parameters(pixelcnn.build("gated")) == 852_160
