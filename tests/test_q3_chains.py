"""Q3's setting (``q3.setting``) and the bookkeeping of its MCMC results (``q3.mcmc_runs``, ``q3.mcmc_reading``):
which chains belong to which image and
start, the burn-in, the traces."""

from __future__ import annotations

import pytest
import torch

from pixelcnn.q3 import mcmc_reading
from pixelcnn.q3.mcmc_runs import SingleSiteChains
from pixelcnn.q3.setting import (
    D_IMAGES,
    HALF,
    MIDDLE,
    MIDDLE_INDEX,
    STARTS,
    d_position,
    kind,
    question_setting,
)
from pixelcnn.study.data import load_images
from pixelcnn.study.runs import budget


def chains(sweeps: int = 8, every: int = 4, images: int = 2, per_start: int = 2) -> SingleSiteChains:
    b = images * len(STARTS) * per_start
    column = torch.arange(b).double()  # chain j's values are j, so every selection can be read off
    conditionals = torch.zeros(sweeps // every, b, 256, dtype=torch.float64)
    for s in range(sweeps // every):
        conditionals[s, torch.arange(b), (column.long() + 10 * s) % 256] = 1.0
    return SingleSiteChains(
        inputs={}, images=torch.zeros(images, 1, 28, 28, dtype=torch.long),
        starts=torch.zeros(b, 1, 28, 28, dtype=torch.uint8),
        samples=torch.zeros(sweeps, b, 1, 28, 28, dtype=torch.uint8), acceptance=column.repeat(sweeps, 1),
        log_p=-column.repeat(sweeps, 1) - torch.arange(sweeps).double().unsqueeze(1), start_log_p=-100 - column,
        full_conditionals=conditionals, recycled=torch.zeros(0), every=every, passes=0, seconds=0.0)


def test_chains_are_grouped_by_image_then_start():
    c = chains()
    assert STARTS == ("test-image", "reverse", "prior") and c.per_image == 6
    assert c.group(c.acceptance, 1, "prior")[0].tolist() == [10.0, 11.0]
    assert c.group(c.acceptance, 0, "reverse")[0].tolist() == [2.0, 3.0]
    assert c.group(c.acceptance, 1)[0].tolist() == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]


def test_the_reference_averages_the_full_conditionals_after_the_burn_in():
    c = chains()
    assert budget()["mcmc"]["burn_in"] == 4  # the full conditionals after sweeps 3 and 7: only the second is kept
    ref = mcmc_reading.d_reference(c)
    assert ref.shape == (2, 256) and torch.allclose(ref.sum(1), torch.ones(2, dtype=torch.float64))
    assert ref[1, 16:22].tolist() == [1 / 6] * 6  # image 1's chains 6..11, shifted by 10 at the second
    assert mcmc_reading.d_reference(c, "reverse")[1, 18:20].tolist() == [0.5, 0.5]


def test_traces_start_with_the_starting_states_in_bits():
    c = chains()
    t = mcmc_reading.traces(c)
    assert t.shape == (9, 2, 3, 2)
    assert torch.allclose(t[0, 1, 2], (-100 - torch.tensor([10.0, 11.0], dtype=torch.float64)) / torch.log(
        torch.tensor(2.0, dtype=torch.float64)))


def test_each_question_is_set_once_and_an_unknown_one_is_refused():
    d, g = question_setting("d"), question_setting("g")
    assert (d.known_from, d.tracked, g.known_from, g.tracked) == (MIDDLE_INDEX + 1, MIDDLE_INDEX, HALF, None)
    assert d.images == list(D_IMAGES.values()) and [d_position(name) for name in D_IMAGES] == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown question 'x'; known: d, g"):
        question_setting("x")


def test_the_d_images_are_named_by_where_their_middle_pixel_lies():
    middle = load_images("test")[list(D_IMAGES.values()), 0, MIDDLE[0], MIDDLE[1]]
    assert [kind(int(v)) for v in middle] == list(D_IMAGES)
