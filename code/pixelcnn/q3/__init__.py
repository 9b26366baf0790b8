"""Q3: what is easy and what is hard to compute, chapter 3's results, one module per concept.

``estimates``: (a)-(g) at the middle pixel with the course's model and with the reverse-order model, and
the held-out check (cached); ``tables``: their tables and what each method costs. ``validation``: every
approximation against enumeration on tiny models (one tiny-model helper for both checks: ``tiny_model``);
``tiny_mcmc``: the MCMC chains' check and the block moves' check. ``starts`` and ``chains``: the MCMC chains
of (d) and (g) on MNIST, the (g) pools and the forward model's scores of them (cached); ``block_chains``: the
chains with block moves; ``tempering``: (d) and (g) by tempering from the prior (``smc``); ``d_estimates``:
the (d) importance samplers over seeds, plain and Rao-Blackwellised
(cached). ``judged``: how the chains are read; ``mcmc_findings``, ``tempering_findings``, ``d_judged``,
``g_judged``: what the chains, the tempering runs and the estimators say. ``claims``: the chapter's claims,
checked on its findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MODEL = "pretrained"  # the model of Q3: the course's (the best likelihood)
MIDDLE = (14, 14)  # the middle pixel (row, col) of a 28x28 image
SIZE = (28, 28)
MIDDLE_INDEX = MIDDLE[0] * SIZE[1] + MIDDLE[1]  # its raster index (``inference.raster_index``)
HALF = (SIZE[0] // 2) * SIZE[1]  # raster index of the first pixel of the bottom half
STARTS = ("test-image", "reverse", "prior")  # where the MCMC chains start, in this order (``starts``)

# Where a middle pixel of grey level v lies: "black" (v = 0), on a "stroke" (v >= STROKE) or on its "edge".
KINDS = ("black", "stroke", "edge")
STROKE = 200


def kind(value: int) -> str:
    """Where a middle pixel of grey level ``value`` lies: one of ``KINDS``."""
    return "black" if value == 0 else "stroke" if value >= STROKE else "edge"


def ink(images: torch.Tensor) -> torch.Tensor:
    """The mean intensity (0 to 1) of the top half of each image [B]."""
    return images.reshape(len(images), -1)[:, :HALF].double().mean(1) / 255
