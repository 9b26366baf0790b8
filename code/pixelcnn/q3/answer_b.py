"""Q3's answer to (b), the middle pixel's marginal: Monte Carlo over the model's own prefixes, averaging their
predicted distributions of the middle pixel (``quantities.results``), with its standard error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .quantities import Results


@dataclass(frozen=True)
class BFindings:
    """(b) by plain Monte Carlo: the estimate, its standard error and the prefixes it averages."""

    estimate: torch.Tensor  # [256]: p(x_middle)
    stderr: torch.Tensor  # [256]
    prefixes: int  # the prefixes drawn from the model


def b_findings(r: Results) -> BFindings:
    """``BFindings`` from the seven quantities' results."""
    return BFindings(r.b, r.b_stderr, r.inputs["budget"]["marginal_prefixes"])


def answer(f: BFindings) -> torch.Tensor:
    """Our answer to (b), the same for every image (no pixel is given): the Monte Carlo marginal [256]."""
    return f.estimate
