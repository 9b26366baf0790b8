"""What the many small tempering runs of (d) say (``tempering_runs.small_runs``): each run's answer and evidence, the
spread of the evidence across runs, their answer combined by evidence, and how diverse each run's particles are.

Independent SMC runs combine as sum_r Z_r pi_r / sum_r Z_r (``diagnostics.combine_by_evidence``): consistent as
runs are added, where the plain mean of the runs is not. On frozen temperatures each Z_r is unbiased, and so is
their mean (``diagnostics.pooled_log_evidence``). A run's diversity is the mean Hamming distance between its
particles over the unknown pixels, set against that between test digits: resampling leaves many particles
"distinct" that differ on a handful of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from ..core import diagnostics
from ..study import cache
from ..study.data import DATA_ID, load_images
from .setting import MIDDLE_INDEX, question_setting
from .tempering_runs import Tempered

LOG2 = math.log(2)


@dataclass(frozen=True)
class SmallRuns:
    """R small tempering runs of (d), G images, n particles each."""

    images: list[int]  # the conditioning test images
    answers: torch.Tensor  # [R, G, 256]: each run's Rao-Blackwellised middle pixel
    log2_evidence: torch.Tensor  # [R, G]: each run's log2 p(later pixels)
    hamming: torch.Tensor  # [R, G]: mean pairwise Hamming distance of a run's particles (fraction of unknown pixels)
    ancestors: torch.Tensor  # [R, G]: how many of a run's first particles have descendants at the end
    particles: int
    steps: int  # tempering steps of the frozen schedule (to the last image's beta = 1)
    seconds: float  # seconds of tempering of all runs together (the pixel posterior not included)
    digit_hamming: float  # mean Hamming distance between test digits over the same pixels

    @property
    def weights(self) -> torch.Tensor:
        """Each run's weight in the combined answer [R, G]: its evidence over the runs' total."""
        return torch.softmax(self.log2_evidence * LOG2, dim=0)

    @property
    def combined(self) -> torch.Tensor:
        """The answer [G, 256]: the runs' answers weighted by their evidence."""
        return diagnostics.combine_by_evidence(self.log2_evidence * LOG2, self.answers)

    @property
    def pooled_log2_evidence(self) -> torch.Tensor:
        """log2 of the mean of the runs' evidence estimates [G] (unbiased on frozen temperatures)."""
        return diagnostics.pooled_log_evidence(self.log2_evidence * LOG2) / LOG2

    @property
    def evidence_spread(self) -> torch.Tensor:
        """The standard deviation of log2 evidence across runs [G], in bits."""
        return self.log2_evidence.std(0)

    @property
    def evidence_range(self) -> torch.Tensor:
        """The highest minus the lowest run's log2 evidence [G], in bits."""
        return self.log2_evidence.max(0).values - self.log2_evidence.min(0).values

    @property
    def plain_mean(self) -> torch.Tensor:
        """The runs' answers averaged with equal weights [G, 256] (not consistent as runs are added)."""
        return self.answers.double().mean(0)

    @property
    def best_weight(self) -> torch.Tensor:
        """The largest run's weight per image [G]."""
        return self.weights.max(0).values


def runs_table(s: SmallRuns, seeds: list[int]) -> pd.DataFrame:
    """One row per run, then their combination by evidence and their plain mean: per image, the most likely middle
    value (its probability), the log2 evidence, the run's weight, the first particles with descendants and the mean
    Hamming distance between the particles."""
    def answer(p: torch.Tensor) -> str:
        return f"{int(p.argmax())} ({float(p.max()):.2f})"

    rows = [{"run": f"seed {seed}", **{f"#{i}": f"{answer(s.answers[r, k])} / {float(s.log2_evidence[r, k]):.1f} / "
                                               f"{float(s.weights[r, k]):.2f} / {int(s.ancestors[r, k])} / "
                                               f"{float(s.hamming[r, k]):.2f}" for k, i in enumerate(s.images)}}
            for r, seed in enumerate(seeds)]
    rows.append({"run": "combined by evidence (the answer)",
                 **{f"#{i}": f"{answer(s.combined[k])} / {float(s.pooled_log2_evidence[k]):.1f} (pooled)"
                    for k, i in enumerate(s.images)}})
    rows.append({"run": "plain mean of the runs", **{f"#{i}": answer(s.plain_mean[k]) for k, i in enumerate(s.images)}})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class DigitHamming:
    """How far apart two test digits are: the mean Hamming distance between pairs of test images."""

    inputs: dict  # ``digit_hamming.inputs(pixels)``: the data, how many test images, over how many raster pixels
    distance: torch.Tensor  # a fraction of the pixels


def _digit_hamming_inputs(pixels: int, count: int = 500) -> dict:
    """Everything ``digit_hamming`` depends on."""
    return {"data": DATA_ID, "count": count, "pixels": pixels}


@cache.declare("q3-digit-hamming", DigitHamming, _digit_hamming_inputs, cases=((MIDDLE_INDEX + 1,),))
def digit_hamming(inputs: dict) -> dict:
    """The mean Hamming distance between pairs of the first ``count`` test digits over their first ``pixels``
    raster pixels (seconds; cached so that the report reads it without the data)."""
    count = inputs["count"]
    digits = load_images("test")[:count].long()
    return {"distance": diagnostics.hamming(digits.unsqueeze(0), inputs["pixels"]).sum() / (count * (count - 1))}


def read(runs: list[Tempered]) -> SmallRuns:
    """The findings of ``tempering_runs.small_runs("d")`` (``Tempered`` results with ancestors)."""
    first = runs[0]
    n = first.log_weights.shape[1]
    pixels = question_setting(first.inputs["question"]).known_from
    hamming = torch.stack([run.hamming() for run in runs])
    return SmallRuns(
        images=list(first.inputs["images"]), answers=torch.stack([run.pixel_posterior for run in runs]),
        log2_evidence=torch.stack([run.log_evidence for run in runs]) / LOG2, hamming=hamming,
        ancestors=torch.stack([diagnostics.distinct_ancestors(run.ancestors) for run in runs]), particles=n,
        steps=len(first.betas) - 1, seconds=sum(run.seconds for run in runs),
        digit_hamming=float(digit_hamming(pixels).distance))
