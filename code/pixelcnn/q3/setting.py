"""Q3's setting, defined once: the model, the middle pixel, the questions (d) and (g) with their conditioning
images and known pixels, the starts of the MCMC chains and the kinds of middle pixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..study.runs import budget

if TYPE_CHECKING:
    import torch

MODEL = "pretrained"  # the model of Q3: the course's (the best likelihood)
MIDDLE = (14, 14)  # the middle pixel (row, col) of a 28x28 image
SIZE = (28, 28)
MIDDLE_INDEX = MIDDLE[0] * SIZE[1] + MIDDLE[1]  # its raster index (``inference.raster_index``)
HALF = (SIZE[0] // 2) * SIZE[1]  # raster index of the first pixel of the bottom half
STARTS = ("test-image", "reverse", "prior")  # where the MCMC chains start, in this order (``mcmc_runs``)

# Where a middle pixel of grey level v lies: "black" (v = 0), on a "stroke" (v >= STROKE) or on its "edge".
KINDS = ("black", "stroke", "edge")
STROKE = 200

# The questions the samplers answer: (d) the middle pixel given the pixels after it, (g) the top half given
# the bottom half.
QUESTIONS = ("d", "g")
# The conditioning test images of (d), named by where their middle pixel lies (``kind``).
D_IMAGES = {"black": 0, "stroke": 2, "edge": 6}


class Setting(NamedTuple):
    """What a question conditions on."""

    images: list[int]  # the conditioning test images (their test-set indices)
    known_from: int  # the first known raster pixel: pixels 0 .. known_from - 1 are unknown
    tracked: int | None  # the raster index of the pixel whose distribution is asked for ((d): the middle)


def question_setting(question: str) -> Setting:
    """The conditioning images, the first known pixel and the tracked pixel of question "d" or "g"."""
    if question == "d":
        return Setting(list(budget()["mcmc"]["d_images"]), MIDDLE_INDEX + 1, MIDDLE_INDEX)
    if question == "g":
        return Setting(list(budget()["q3_images"]), HALF, None)
    raise ValueError(f"unknown question {question!r}; known: {', '.join(QUESTIONS)}")


def d_position(name: str) -> int:
    """The position among the (d) images of the one named ``name`` (a key of ``D_IMAGES``)."""
    return question_setting("d").images.index(D_IMAGES[name])


def kind(value: int) -> str:
    """Where a middle pixel of grey level ``value`` lies: one of ``KINDS``."""
    return "black" if value == 0 else "stroke" if value >= STROKE else "edge"


def ink(images: torch.Tensor) -> torch.Tensor:
    """The mean intensity (0 to 1) of the top half of each image [B]."""
    return images.reshape(len(images), -1)[:, :HALF].double().mean(1) / 255
