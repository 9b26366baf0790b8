"""Q3 (g) judged: each proposal's evidence of the given bottom half at equal n, the prior pools read as one
against the tempering runs, and the forward model's measures of every method's tops against the true tops'
(the findings and tables of chapter 3's "(g) diagnosed" section; claims: ``q3.claims``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .tables import spread_cell

if TYPE_CHECKING:
    from .chains import GPools, Scores
    from .tempering_findings import TemperingFindings


@dataclass(frozen=True)
class GFindings:
    """(g): each proposal's log2 evidence p(bottom half) at equal n (the own pools: [N, pools] each), each
    tempering run's, and the forward model's measures of every method's tops (``chains.scores().g``)."""

    indices: tuple
    prior_evidence: torch.Tensor  # [N, pools], bits
    reverse_evidence: torch.Tensor
    proposals: int  # n of each pool
    measures: dict  # "ink" / "log2 p" -> method -> [N]
    tempering_evidence: torch.Tensor  # [N, R], bits: each tempering run's
    particles: int  # n of each tempering run

    def pooled_prior(self) -> torch.Tensor:
        """log2 evidence of the prior pools read as one pool of pools x proposals (the mean of their unbiased
        estimates, itself unbiased), [N]."""
        pools = self.prior_evidence.shape[1]
        return (torch.logsumexp(self.prior_evidence * math.log(2), 1) - math.log(pools)) / math.log(2)

    def pooled_lead(self, highest: bool = False) -> torch.Tensor:
        """The pooled prior estimate minus the lower (``highest``: the higher) tempering run's, per image [N], bits."""
        runs = self.tempering_evidence.max(1).values if highest else self.tempering_evidence.min(1).values
        return self.pooled_prior() - runs

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


def g_findings(pools: GPools, scores: Scores, indices: tuple, tempered: TemperingFindings) -> GFindings:
    """``GFindings`` from the (g) pools, the forward model's scores and the (g) tempering runs."""
    bits = math.log(2)
    return GFindings(indices, pools.prior_log_evidence / bits, pools.reverse_log_evidence / bits,
                     pools.inputs["proposals"], scores.g, tempered.log2_evidence.T, tempered.particles)


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
