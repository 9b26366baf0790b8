"""Q3's answer to (g), the top half given the bottom half: each proposal's evidence of the given bottom half at
equal n, the prior pools read as one against the tempering runs, the forward model's measures of every method's
tops against the true tops' (the findings and tables of chapter 3's "(g) diagnosed" section; claims:
``claims_g``), and the answer itself per conditioning image (``answer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .formatting import distinct, spread_cell
from .setting import ink

POOLED = "SIR, prior, one pool of all"  # the answer: ``importance.pooled_sir``

if TYPE_CHECKING:
    from .importance import GPools, PooledSIR
    from .tempering_reading import TemperingFindings


@dataclass(frozen=True)
class GFindings:
    """(g): each proposal's log2 evidence p(bottom half) at equal n (the own pools: [N, pools] each), each
    tempering run's, and the forward model's measures of every method's tops (``Scores.g``)."""

    indices: tuple
    prior_evidence: torch.Tensor  # [N, pools], bits
    reverse_evidence: torch.Tensor
    proposals: int  # n of each pool
    measures: dict  # "ink" / "log2 p" -> method -> [N]
    tempering_evidence: torch.Tensor  # [N, R], bits: each tempering run's
    particles: int  # n of each tempering run
    pooled_evidence: torch.Tensor  # [N], bits: the answer's pool (``importance.pooled_sir``)
    pooled_ess: torch.Tensor  # [N]: its effective sample size
    pooled_distinct: list  # [N]: how many of its completions differ from each other
    completions: int  # the answer's completions per image
    pooled_seconds: float  # what the answer took for all the images
    tempering_seconds: torch.Tensor  # [R]: what each tempering run took for all the images

    def pooled_prior(self) -> torch.Tensor:
        """log2 evidence of the prior pools read as one pool of pools x proposals (the mean of their unbiased
        estimates, itself unbiased), [N]."""
        pools = self.prior_evidence.shape[1]
        return (torch.logsumexp(self.prior_evidence * math.log(2), 1) - math.log(pools)) / math.log(2)

    def pooled_lead(self, highest: bool = False) -> torch.Tensor:
        """The pooled prior estimate minus the lower (``highest``: the higher) tempering run's, per image [N], bits."""
        runs = self.tempering_evidence.max(1).values if highest else self.tempering_evidence.min(1).values
        return self.pooled_prior() - runs

    def pooled_matches(self) -> bool:
        """Whether the answer's pool has the evidence of the prior pools read as one (the same draws), to 1e-3 bits."""
        return bool(((self.pooled_evidence - self.pooled_prior()).abs() < 1e-3).all())

    @property
    def pool(self) -> int:
        """The answer's pool size: every prior proposal."""
        return self.prior_evidence.shape[1] * self.proposals

    def seconds_ratio(self) -> float:
        """What a tempering run took over what the answer took (mean over the runs; both for all the images)."""
        return float(self.tempering_seconds.mean()) / self.pooled_seconds

    def prior_wins(self) -> int:
        """Images on which the prior proposals' mean log2 evidence over the pools is above the reverse ones'."""
        return int((self.prior_evidence.mean(1) > self.reverse_evidence.mean(1)).sum())

    def tempering_spread(self, measure: str) -> torch.Tensor:
        """The largest minus the smallest over the tempering runs of a measure of their draws, per image [N]."""
        runs = torch.stack([v for name, v in self.measures[measure].items() if name.startswith("SMC tempering")])
        return runs.max(0).values - runs.min(0).values

    def gap(self, method: str, measure: str) -> torch.Tensor:
        """A method's measure minus the true tops', per image [N]."""
        m = self.measures[measure]
        return m[method] - m["test image itself"]


def g_findings(pools: GPools, measures: dict, indices: tuple, tempered: TemperingFindings,
               pooled: PooledSIR) -> GFindings:
    """``GFindings`` from the (g) pools, the forward model's measures of every method's tops (``Scores.g``), the
    (g) tempering runs and the answer (``importance.pooled_sir``, whose measures are added to the others)."""
    bits, n = math.log(2), pooled.inputs["completions"]
    tops = pooled.completions.long().view(len(indices), n, *pooled.completions.shape[1:])
    measures = {"ink": {**measures["ink"], POOLED: ink(tops.flatten(0, 1)).view(len(indices), n).mean(1)},
                "log2 p": {**measures["log2 p"], POOLED: (pooled.log_p / bits).view(len(indices), n).mean(1)}}
    return GFindings(indices, pools.prior_log_evidence / bits, pools.reverse_log_evidence / bits,
                     pools.inputs["proposals"], measures, tempered.log2_evidence.T, tempered.particles,
                     pooled.log_evidence.double() / bits, pooled.ess.double(), distinct(pooled.completions, n), n,
                     float(pooled.seconds["total"]), tempered.seconds.double())


def g_evidence_table(f: GFindings) -> pd.DataFrame:
    """log2 evidence of the bottom half per estimator and image: each proposal at n = ``f.proposals`` (mean,
    smallest to largest, over the pools), the prior pools read as one, and tempering (over the runs)."""
    pools = f.prior_evidence.shape[1]
    rows = ((f"prior (the forward model's own tops), n = {f.proposals:,}", f.prior_evidence),
            (f"reverse-model completions, n = {f.proposals:,}", f.reverse_evidence),
            (f"prior, the {pools} pools as one, n = {pools * f.proposals:,}", f.pooled_prior()[:, None]),
            (f"SMC tempering from the prior, {f.particles} particles (runs)", f.tempering_evidence))
    return pd.DataFrame([{"estimator": name, **{f"#{i}": spread_cell(v[k]) for k, i in enumerate(f.indices)}}
                         for name, v in rows])


def g_diagnosis(measures: dict[str, dict[str, torch.Tensor]], indices: tuple[int, ...]) -> pd.DataFrame:
    """``g_measures`` as a table: one row per measure and method, one column per conditioning image."""
    return pd.DataFrame([{"measure": f"{measure}: {name}",
                          **{f"test #{i}": format(v, ".3f" if measure == "ink" else ".0f")
                             for i, v in zip(indices, values.tolist(), strict=True)}}
                         for measure, by_method in measures.items() for name, values in by_method.items()])


def answer(pooled: PooledSIR) -> dict[int, torch.Tensor]:
    """Our answer to (g) per conditioning image (test-set index -> [completions, 1, 28, 28]): SIR with the forward
    model's own samples as proposals, every completion resampled from one pool of all of them."""
    indices, x = pooled.inputs["images"], pooled.completions
    return dict(zip(indices, x.view(len(indices), -1, *x.shape[1:]).unbind(0), strict=True))
