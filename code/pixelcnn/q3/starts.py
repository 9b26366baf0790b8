"""Where Q3's MCMC chains of (d) and (g) start, and what every run of them is set up from.

Three starts per conditioning image, in the order of ``STARTS``: the test image itself (if the model fits
the data, its unknown pixels are close to a draw from the target, so these chains start near
stationarity), the reverse model's completions, and the forward model's own samples that ignore the
given pixels. The single-site chains (``chains``) and the block-move chains (``block_chains``) share
``chain_setup``, so both start from the same states with the same random numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..core import estimators as est
from ..core import inference as inf
from ..study.data import load_images
from ..study.runs import load_identity
from . import HALF, SIZE


def starting_states(model: torch.nn.Module, reverse: torch.nn.Module, x: torch.Tensor, known_from: int, n: int,
                    generator: torch.Generator) -> torch.Tensor:
    """n starting states per image of x [N, 1, 28, 28] and start of ``STARTS``: [N * 3 * n, 1, 28, 28], image-major."""
    return torch.cat([torch.cat([x[k:k + 1].repeat(n, 1, 1, 1),
                                 est.sample_before(reverse, x[k:k + 1], known_from, n, generator),
                                 est.prior_starts(model, x[k:k + 1], known_from, n, generator)])
                      for k in range(len(x))])


class ChainSetup(NamedTuple):
    """What every MCMC run of (d) or (g) starts from, made from its inputs (the generator already used)."""

    model: torch.nn.Module
    reverse: torch.nn.Module
    generator: torch.Generator
    middle: int  # raster index of the middle pixel
    known_from: int  # the first given pixel: pixels 0 .. known_from - 1 are updated
    images: torch.Tensor  # long [N, 1, 28, 28]: the test images
    starts: torch.Tensor  # [N * 3 * n, 1, 28, 28]: ``starting_states``


def chain_setup(inputs: dict) -> ChainSetup:
    """The models, the generator, the unknown pixels and the three starts of a run's ``inputs``."""
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    middle = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    known_from = middle + 1 if inputs["question"] == "d" else HALF
    x = load_images("test")[inputs["images"]].long()
    starts = starting_states(model, reverse, x, known_from, inputs["chains_per_start"], generator)
    return ChainSetup(model, reverse, generator, middle, known_from, x, starts)
