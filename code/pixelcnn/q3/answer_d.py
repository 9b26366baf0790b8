"""Q3's answer to (d), the middle pixel given the pixels after it: every estimate side by side, their stability
across seeds, their distance to the reference (the small tempering runs combined by their evidence) and to the
exact (e), each method's evidence (the findings and tables of chapter 3's "(d) judged" section; claims:
``claims_d``), and the answer itself per conditioning image (``answer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics
from .formatting import spread_cell
from .mcmc_reading import d_reference
from .setting import D_IMAGES, MIDDLE_INDEX, STARTS

if TYPE_CHECKING:
    from .explorer import Explored
    from .importance import DEstimators, RBReverse
    from .mcmc_reading import ChainFindings
    from .mcmc_runs import SingleSiteChains
    from .small_runs import SmallRuns
    from .tempering_reading import TemperingFindings

TEST_START = "single-site chains, test-image starts"
TEMPERING = "SMC tempering, adaptive runs"  # the 64-particle runs of ``tempering_runs.tempering``
SMALL_RUNS = "SMC tempering, small runs by evidence"  # ``small_runs.SmallRuns.combined``: the answer
MARKOV = 0.99  # the confidence of the bound on the importance samplers' shortfall
STABLE = 0.05  # a method's estimates on one image count as stable across seeds when no two differ by more (TV)


def mean_level(p: torch.Tensor) -> torch.Tensor:
    """The mean grey level of distributions over the last dimension."""
    return (p.double() * torch.arange(p.shape[-1], dtype=torch.float64)).sum(-1)


@dataclass(frozen=True)
class DFindings:
    """Every (d) estimate per method [R or 1, N, 256] (R seeds), the exact (e) [N, 256], the evidence estimates
    (log2, [R, N]) and the Rao-Blackwellised reverse-proposal estimate's cost."""

    indices: tuple
    true_middle: tuple  # the test images' middle values
    estimates: dict  # method name -> [R or 1, N, 256]
    e: torch.Tensor  # [N, 256]: the exact (e), given all other pixels
    evidence: dict  # "prior prefixes, n = 16", "reverse proposals, first 16", "reverse proposals, n = 512"
    kept: torch.Tensor  # [R, N] proposals whose full conditional the Rao-Blackwellised estimate computed
    dropped: float  # the largest weight it left out
    rb_seconds: dict
    rb_reproduces: bool  # its plain estimate is the cached reverse-proposal estimate (within 1e-6 in TV)

    def position(self, name: str) -> int:
        """The position among the images of the one named ``name`` ("black", "stroke", "edge": ``D_IMAGES``)."""
        return self.indices.index(D_IMAGES[name])

    def reference(self) -> torch.Tensor:
        """The estimate the others are measured against, per image [N, 256]: the small tempering runs' answers
        combined by their evidence (our answer)."""
        return self.estimates[SMALL_RUNS][0]

    def spread(self, name: str) -> torch.Tensor:
        """The largest TV between two seeds' estimates of a method, per image [N]."""
        p = self.estimates[name]
        return torch.stack([diagnostics.total_variation(p[:, None, k], p[None, :, k]).max() for k in range(p.shape[1])])

    def stable(self, name: str, tolerance: float = 1) -> torch.Tensor:
        """Per image, whether a method's estimates stay within ``tolerance`` times ``STABLE`` across the seeds."""
        return self.spread(name) < tolerance * STABLE

    def tv_to_e(self) -> torch.Tensor:
        """The total variation between the test-start chains' estimate and the exact (e), per image [N]."""
        return diagnostics.total_variation(self.estimates[TEST_START][0], self.e)

    def tv_to_reference(self, name: str) -> torch.Tensor:
        """The total variation between each seed's estimate of a method and the reference, [R, N]."""
        return diagnostics.total_variation(self.estimates[name], self.reference().unsqueeze(0))

    def black_on_edge(self) -> dict[str, float]:
        """P(black middle) of every estimate on the edge image, mean over the seeds."""
        edge = self.position("edge")
        return {name: float(p[:, edge, 0].mean()) for name, p in self.estimates.items()}

    def least_bright_on_stroke(self) -> float:
        """The least mass any estimate but the prior-start block chains puts on the bright half (>= 128) of the
        stroke image, over the seeds."""
        stroke = self.position("stroke")
        return min(float(p[:, stroke, 128:].sum(-1).min()) for name, p in self.estimates.items()
                   if name != "block chains, prior starts")

    def importance_best(self) -> torch.Tensor:
        """The highest log2 evidence of any importance sampler and seed, per image [N]."""
        rows = [v for name, v in self.evidence.items() if not name.startswith("tempering")]
        return torch.cat(rows).max(0).values

    def tempering_lead(self, highest: bool = False) -> torch.Tensor:
        """Per image [N], how far (bits) the lowest (or the highest) adaptive tempering run's log2 evidence lies
        above the highest importance sampler's."""
        runs = self.evidence[self.adaptive_row()]
        return (runs.max(0).values if highest else runs.min(0).values) - self.importance_best()

    def adaptive_row(self) -> str:
        return next(name for name in self.evidence if name.startswith("tempering, adaptive"))

    def small_lead(self) -> torch.Tensor:
        """Per image [N], how far (bits) the small runs' pooled log2 evidence lies above the best importance
        sampler's."""
        return self.evidence[next(n for n in self.evidence if n.startswith("tempering, small"))][0] - \
            self.importance_best()

    def shortfall(self) -> torch.Tensor:
        """Per image [N], bits by which the best importance sampler falls short of log2 p(x_>m) with probability at
        least ``MARKOV`` (0 when nothing is shown): the small runs' pooled evidence is unbiased (frozen
        temperatures), so it overshoots by log2(1 / (1 - MARKOV)) bits or more with probability at most 1 - MARKOV
        (Markov's inequality)."""
        return (self.small_lead() - math.log2(1 / (1 - MARKOV))).clamp(min=0)

    def reverse_wins(self, n: str) -> torch.Tensor:
        """Per image, the seeds on which the reverse proposals' evidence (``n``) is above the prior prefixes'."""
        return (self.evidence[n] > self.evidence["prior prefixes, n = 16"]).sum(0)


def d_findings(single_d: SingleSiteChains, block: ChainFindings, e: DEstimators, rb: RBReverse, explored: Explored,
               tempered: TemperingFindings, small: SmallRuns) -> DFindings:
    """``DFindings`` from the single-site (d) chains, the chains' findings, the cached estimators, the
    Rao-Blackwellised estimate, the explorer's results (the exact (e) of the (d) images among them), the
    adaptive tempering runs and the small runs."""
    exact_e = explored.e[[explored.indices.tolist().index(i) for i in single_d.indices]]
    one = lambda p: p.unsqueeze(0)  # noqa: E731
    estimates = {SMALL_RUNS: one(small.combined), TEMPERING: tempered.posterior,
                 TEST_START: one(d_reference(single_d, "test-image")),
                 **{f"block chains, {s} starts": one(block.block_d[:, i]) for i, s in enumerate(STARTS)},
                 "IS, prior prefixes": e.is_prior, "IS, reverse proposals": e.is_reverse,
                 "IS, reverse proposals, Rao-Blackwellised": rb.rb, "reverse model alone": one(e.reverse)}
    bits = math.log(2)
    return DFindings(single_d.indices, tuple(int(x.flatten()[MIDDLE_INDEX]) for x in single_d.images), estimates,
                     exact_e.double(), {"prior prefixes, n = 16": e.is_prior_log_evidence / bits,
                                        "reverse proposals, first 16": rb.log_evidence_first / bits,
                                        "reverse proposals, n = 512": e.is_reverse_log_evidence / bits,
                                        f"tempering, adaptive, n = {tempered.particles}": tempered.log2_evidence,
                                        f"tempering, small runs pooled, n = {len(small.answers)} x {small.particles}":
                                            small.pooled_log2_evidence.unsqueeze(0)},
                     rb.kept, float(rb.dropped.max()), rb.seconds,
                     bool((diagnostics.total_variation(rb.plain, e.is_reverse) < 1e-6).all()))


def d_table(f: DFindings) -> pd.DataFrame:
    """Per method (rows) and image: P(black middle) and the mean level (mean over the seeds; with several seeds the
    largest TV between two of them), and TV and W1 to the reference, the small runs combined by evidence (mean
    over the seeds)."""
    ref, rows = f.reference(), []
    for name, p in {**f.estimates, "exact (e), all other pixels given": f.e.unsqueeze(0)}.items():
        row = {"method": name}
        for k, i in enumerate(f.indices):
            cell = f"{float(p[:, k, 0].mean()):.2f} / {float(mean_level(p[:, k]).mean()):.0f}"
            spread = f" (seeds {float(f.spread(name)[k]):.2f})" if name in f.estimates and len(p) > 1 else ""
            dist = (f"{float(diagnostics.total_variation(p[:, k], ref[k]).mean()):.2f} / "
                    f"{float(diagnostics.wasserstein(p[:, k], ref[k]).mean()):.0f}")
            row |= {f"#{i} P(0) / mean": cell + spread, f"#{i} TV / W1": dist}
        rows.append(row)
    return pd.DataFrame(rows)


def evidence_table(f: DFindings) -> pd.DataFrame:
    """log2 evidence p(x_>m) per method and image: mean (smallest to largest) over the seeds."""
    return pd.DataFrame([{"method": name, **{f"#{i}": spread_cell(v[:, k]) for k, i in enumerate(f.indices)}}
                         for name, v in f.evidence.items()])


def answer(f: DFindings) -> dict[int, torch.Tensor]:
    """Our answer to (d) per conditioning image (test-set index -> [256]): the small tempering runs combined by
    their evidence (``DFindings.reference``)."""
    return dict(zip(f.indices, f.reference().unbind(0), strict=True))
