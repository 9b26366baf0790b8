"""Q3 (g) judged: each proposal's evidence of the given bottom half at equal n, and the forward model's
measures of every method's tops against the true tops' (the findings and tables of chapter 3's "(g)
diagnosed" section; claims: ``q3.claims``).
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


@dataclass(frozen=True)
class GFindings:
    """(g): each proposal's log2 evidence p(bottom half) at equal n (the own pools: [N, pools] each), and the
    forward model's measures of every method's tops (``chains.scores().g``)."""

    indices: tuple
    prior_evidence: torch.Tensor  # [N, pools], bits
    reverse_evidence: torch.Tensor
    proposals: int  # n of each pool
    measures: dict  # "ink" / "log2 p" -> method -> [N]

    def prior_wins(self) -> int:
        """Images on which the prior proposals' mean log2 evidence over the pools is above the reverse ones'."""
        return int((self.prior_evidence.mean(1) > self.reverse_evidence.mean(1)).sum())

    def gap(self, method: str, measure: str) -> torch.Tensor:
        """A method's measure minus the true tops', per image [N]."""
        m = self.measures[measure]
        return m[method] - m["test image itself"]


def g_findings(pools: GPools, scores: Scores, indices: tuple) -> GFindings:
    """``GFindings`` from the (g) pools and the forward model's scores."""
    bits = math.log(2)
    return GFindings(indices, pools.prior_log_evidence / bits, pools.reverse_log_evidence / bits,
                     pools.inputs["proposals"], scores.g)


def g_evidence_table(f: GFindings) -> pd.DataFrame:
    """log2 evidence of the bottom half per proposal and image, at n = ``f.proposals`` each: mean (smallest to
    largest) over the pools."""
    return pd.DataFrame([{"proposals": name, **{f"#{i}": spread_cell(v[k]) for k, i in enumerate(f.indices)}}
                         for name, v in (("prior (the forward model's own tops)", f.prior_evidence),
                                         ("reverse-model completions", f.reverse_evidence))])
