"""The values chapter 3 quotes in its answers to (d) and (g), formatted: one findings object each (``DProse``,
``GProse``) whose attributes the chapter's prose names bare, so that no sentence computes.

Per-image values read "#0 / #2 / #6" in the order of the (d) images (black, stroke, edge: ``setting.D_IMAGES``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..study.prose import Prose
from .answer_d import MARKOV, TEMPERING
from .formatting import range_text

if TYPE_CHECKING:
    from .answer_d import DFindings
    from .answer_g import GFindings
    from .quantities import Results
    from .small_runs import SmallRuns
    from .tempering_reading import TemperingFindings


def per_image(values: torch.Tensor, fmt: str = ".2f") -> str:
    """Values per image as prose: "a / b / c"."""
    return " / ".join(format(float(v), fmt) for v in values.flatten())


def top_value(p: torch.Tensor) -> str:
    """The most likely value of a distribution [256] and its probability: "254 (0.79)"."""
    return f"{int(p.argmax())} ({float(p.max()):.2f})"


@dataclass(frozen=True)
class DProse:
    """Chapter 3's (d) values: the small runs, the adaptive runs' diversity, the answer and its evidence."""

    runs: str  # how many small runs
    particles: str  # particles per image of a small run
    steps: str  # tempering steps of the frozen schedule
    pilot_particles: str  # particles per image of the adaptive run whose temperatures are frozen
    most_ancestors: str  # the most first particles with descendants at the end of any small run
    hamming: str  # the range of the small runs' within-run Hamming distances
    digit_hamming: str  # the Hamming distance between test digits over the same pixels
    adaptive_hamming: str  # the range of the adaptive runs' within-run Hamming distances
    evidence_range: str  # per image, the highest minus the lowest small run's log2 evidence
    best_weight: str  # per image, the heaviest small run's weight
    pooled_evidence: str  # per image, the small runs' pooled log2 evidence
    black: str  # P(black middle) of the answer on the black image
    stroke: str  # the answer's most likely value on the stroke image and its probability
    stroke_second: str  # the next most likely value on the stroke image
    edge: str  # P(black middle) of the answer on the edge image
    edge_plain: str  # ... of the runs' plain mean
    edge_runs: str  # the range of the small runs' P(black) on the edge image
    edge_adaptive: str  # P(black) of the adaptive runs on the edge image
    edge_rb: str  # the range over the seeds of the Rao-Blackwellised reverse proposals' P(black) on the edge image
    rb_to_answer: str  # the largest TV between a seed's Rao-Blackwellised estimate and the answer on #0 and #2
    lead: str  # per image, bits by which the small runs' pooled evidence lies above the best importance sampler's
    markov: str  # the confidence of the bound
    markov_bits: str  # log2(1 / (1 - confidence))
    shortfall: str  # per image, the shortfall of the best importance sampler the bound shows
    minutes: str  # minutes of tempering of all the small runs together


def d_prose(d: DFindings, small: SmallRuns, adaptive: TemperingFindings) -> DProse:
    """``DProse`` from the (d) findings, the small runs and the adaptive runs."""
    edge, stroke = d.position("edge"), d.position("stroke")
    answer, rb = d.reference(), d.estimates["IS, reverse proposals, Rao-Blackwellised"]
    black_stroke = [d.position("black"), stroke]
    second = answer[stroke].topk(2).indices[1]
    rb_distance = d.tv_to_reference("IS, reverse proposals, Rao-Blackwellised")
    return DProse(
        runs=str(len(small.answers)), particles=str(small.particles), steps=str(small.steps),
        pilot_particles=str(adaptive.particles), most_ancestors=str(int(small.ancestors.max())),
        hamming=range_text(small.hamming, ".2f"), digit_hamming=f"{small.digit_hamming:.2f}",
        adaptive_hamming=range_text(adaptive.hamming, ".2f"), evidence_range=per_image(small.evidence_range, ".1f"),
        best_weight=per_image(small.best_weight), pooled_evidence=per_image(small.pooled_log2_evidence, ".1f"),
        black=f"{float(answer[d.position('black'), 0]):.2f}", stroke=top_value(answer[stroke]),
        stroke_second=str(int(second)), edge=f"{float(answer[edge, 0]):.2f}",
        edge_plain=f"{float(small.plain_mean[edge, 0]):.2f}", edge_runs=range_text(small.answers[:, edge, 0], ".2f"),
        edge_adaptive=" and ".join(f"{float(v):.2f}" for v in d.estimates[TEMPERING][:, edge, 0]),
        edge_rb=range_text(rb[:, edge, 0], ".2f"),
        rb_to_answer=f"{float(rb_distance[:, black_stroke].max()):.2f}",
        lead=per_image(d.small_lead(), ".1f"), markov=f"{MARKOV:g}", markov_bits=f"{math.log2(1 / (1 - MARKOV)):.1f}",
        shortfall=per_image(d.shortfall(), ".1f"), minutes=f"{small.seconds / 60:.0f}")


@dataclass(frozen=True)
class GProse:
    """Chapter 3's (g) values: the answer's pool, its evidence against tempering's, its cost."""

    pool: str  # the answer's pool: every prior proposal
    pools: str  # the own pools it merges
    completions: str  # completions per image
    ess: str  # the range of the answer's ESS over the images
    distinct: str  # the range over the images of distinct completions
    lead_low: str  # the range over the images of its log2 evidence above the lower tempering run's
    above_high: str  # on how many images it lies above the higher run
    below_high: str  # the most bits it lies below the higher run elsewhere
    minutes: str  # what the answer took for all the images
    tempering_minutes: str  # what a tempering run took (range over the runs)
    seconds_ratio: str  # the second over the first
    ink_gap: str  # the largest difference between its tops' ink and the true tops'


def g_prose(g: GFindings) -> GProse:
    """``GProse`` from the (g) findings."""
    from .answer_g import POOLED

    high = g.pooled_lead(highest=True)
    below = -high[high <= 0]
    return GProse(
        pool=f"{g.pool:,}", pools=str(g.prior_evidence.shape[1]), completions=str(g.completions),
        ess=range_text(g.pooled_ess, ".1f"), distinct=range_text(torch.tensor(g.pooled_distinct)),
        lead_low=range_text(g.pooled_lead(), ".1f"), above_high=str(int((high > 0).sum())),
        below_high=f"{float(below.max()) if len(below) else 0.0:.1f}", minutes=f"{g.pooled_seconds / 60:.0f}",
        tempering_minutes=range_text(g.tempering_seconds / 60, ".0f"), seconds_ratio=f"{g.seconds_ratio():.1f}",
        ink_gap=f"{float(g.gap(POOLED, 'ink').abs().max()):.3f}")



def items(r3: Results, d: DFindings, small: SmallRuns, g: GFindings) -> Prose:
    """The values of chapter 3's answers, item by item: (a) and (b), and how good the hard answers are."""
    b_black, b_stderr = float(r3.b[0]), float(r3.b_stderr[0])
    return Prose(
        a_black=f"{float(r3.a[0]):.3f}", b_prefixes=f"{r3.inputs['budget']['marginal_prefixes']:,}",
        b_black=f"{b_black:.2f}", b_black_stderr=f"{b_stderr:.2f}", b_bright=f"{float(r3.b[128:].sum()):.2f}",
        empirical_black=f"{float(r3.empirical_middle[0] / r3.empirical_middle.sum()):.2f}",
        d_runs=str(len(small.answers)), d_particles=str(small.particles), d_best_weight=per_image(small.best_weight),
        d_lead=per_image(d.small_lead(), ".1f"), g_pool=f"{g.pool:,}", g_completions=str(g.completions),
        g_ess=range_text(g.pooled_ess, ".1f"), g_distinct=range_text(torch.tensor(g.pooled_distinct)),
        g_above_high=str(int((g.pooled_lead(highest=True) > 0).sum())), g_images=str(len(g.indices)))
