"""Sampling: the fast sampler is exact (same logits and samples as the naive one, every architecture, every
raster start) and completions keep their prefix."""

from __future__ import annotations

import pytest
import torch

import pixelcnn
from pixelcnn.core import sampling
from pixelcnn.core.sampling import sample

MODELS = [
    ("simple", {"channels": 8, "layers": 3}),
    ("simple", {"channels": 8, "layers": 2, "kernel_size": 5, "residual": False, "shifted": False}),
    ("noncausal", {"channels": 8, "layers": 2}),
    ("gated", {"channels": 8}),
    ("simple", {"channels": 8, "layers": 2, "levels": 3}),
    ("simple", {"channels": 8, "layers": 3, "residual": False}),
    ("noncausal", {"channels": 8, "layers": 2, "shifted": False, "first_kernel_size": 5}),
    ("gated", {"channels": 4, "levels": 5}),
]


def randomised(arch, kwargs):
    model = pixelcnn.build(arch, **kwargs).eval()
    with torch.no_grad():  # larger weights than the default init, so logits are far from uniform
        for p in model.parameters():
            p.mul_(3)
    return model


@pytest.mark.parametrize("arch,kwargs", MODELS)
@pytest.mark.parametrize("start", [0, 17, 35])
def test_fast_sampler_gives_the_same_samples_as_the_naive_one(arch, kwargs, start):
    model = randomised(arch, kwargs)
    levels = model.levels
    images = torch.randint(0, levels, (4, 1, 6, 7))
    fast = sample(model, images=images, start=start, generator=torch.Generator().manual_seed(1))
    naive = sample(model, images=images, start=start, generator=torch.Generator().manual_seed(1), method="naive")
    assert torch.equal(fast, naive)
    assert torch.equal(fast.flatten(1)[:, :start], images.flatten(1)[:, :start])  # the prefix is kept


def test_different_random_streams_give_different_samples():
    model = pixelcnn.build("simple", channels=8, layers=2).eval()
    a, b = (sample(model, 2, size=(4, 4), generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    assert not torch.equal(a, b)


def recorded_logits(method, model, x, start, stop, seed=0):
    """Run a sampler on ``x`` in place, recording the logits of every step."""
    generator, seen = torch.Generator().manual_seed(seed), []

    def draw(logits):
        seen.append(logits.clone())
        return torch.multinomial(torch.softmax(logits.double(), -1), 1, generator=generator)[:, 0]

    with torch.inference_mode():
        method(model, x, start, stop, draw)
    return torch.stack(seen, dim=2)  # [B, levels, steps]


@pytest.mark.parametrize("arch,kwargs", MODELS)
@pytest.mark.parametrize("start,stop", [(0, 42), (10, 42), (17, 30), (36, 42)])
def test_fast_logits_equal_naive_logits_at_every_step(arch, kwargs, start, stop):
    """The naive sampler's logits are a full forward pass of the current image at every step."""
    model = randomised(arch, kwargs)
    images = torch.randint(0, model.levels, (3, 1, 6, 7))
    images.view(3, -1)[:, start:] = 0  # unknown pixels are zero until drawn, as in `sample`
    fast_x, naive_x = images.clone(), images.clone()
    fast = recorded_logits(sampling._fast, model, fast_x, start, stop)
    naive = recorded_logits(sampling._naive, model, naive_x, start, stop)
    assert torch.equal(fast_x, naive_x)
    scale = naive.abs().max()  # logits of these large random weights reach ~100: float32 rounding scales with them
    torch.testing.assert_close(fast, naive, atol=1e-6 * scale, rtol=1e-5)
    if arch != "noncausal":  # a causal model's logits at every step are those of one pass over the result
        full = model(fast_x)[:, :, 0].flatten(2)[..., start:stop]
        torch.testing.assert_close(fast, full, atol=1e-6 * scale, rtol=1e-5)


@pytest.mark.parametrize("arch,kwargs", [MODELS[0], MODELS[2], MODELS[3]])
def test_fast_sampler_from_every_raster_start(arch, kwargs):
    model = randomised(arch, kwargs)
    images = torch.randint(0, model.levels, (2, 1, 4, 5))
    for start in range(21):
        fast = sample(model, images=images, start=start, generator=torch.Generator().manual_seed(start))
        naive = sample(model, images=images, start=start, generator=torch.Generator().manual_seed(start),
                       method="naive")
        assert torch.equal(fast, naive), start


def test_sampling_on_a_given_device_moves_the_model():
    model = randomised("simple", {"channels": 8, "layers": 2})
    out = sample(model, 2, size=(3, 4), generator=torch.Generator().manual_seed(0), device="cpu")
    assert out.device.type == "cpu" and next(model.parameters()).device.type == "cpu"
    assert torch.equal(out, sample(model, 2, size=(3, 4), generator=torch.Generator().manual_seed(0)))


def test_unconditional_shapes_and_errors():
    model = pixelcnn.build("simple", channels=4, layers=1, levels=4)
    assert sample(model, 2, size=(3, 3)).shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match="n >= 1"):
        sample(model)
    with pytest.raises(ValueError, match="start"):
        sample(model, images=torch.zeros(1, 1, 3, 3, dtype=torch.long), start=10)
    with pytest.raises(ValueError, match="start"):
        sample(model, 1, size=(3, 3), start=5, stop=4)
    with pytest.raises(ValueError, match="method"):
        sample(model, 1, size=(2, 2), method="quick")
    with pytest.raises(ValueError, match="0..3"):
        sample(model, images=torch.full((1, 1, 3, 3), 7), start=2)


@pytest.mark.parametrize("start,stop", [(0, 10), (7, 23), (5, 5), (30, 42)])
def test_stop_leaves_later_pixels_zero_and_matches_naive(start, stop):
    model = randomised("simple", {"channels": 8, "layers": 2})
    images = torch.randint(0, 256, (3, 1, 6, 7))
    fast = sample(model, images=images, start=start, stop=stop, generator=torch.Generator().manual_seed(3))
    naive = sample(model, images=images, start=start, stop=stop, generator=torch.Generator().manual_seed(3),
                   method="naive")
    assert torch.equal(fast, naive)
    assert (fast.flatten(1)[:, stop:] == 0).all()
