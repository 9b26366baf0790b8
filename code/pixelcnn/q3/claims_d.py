"""Q3: the claims of chapter 3 about its answer to (d) (``answer_d``), each a ``@claim`` that quotes the sentence
it guards (run by ``claims.check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..study.claims import claim
from .answer_d import SMALL_RUNS, TEMPERING, answer
from .setting import D_IMAGES

if TYPE_CHECKING:
    from .answer_d import DFindings
    from .small_runs import SmallRuns


@claim
def test_start_estimate_is_close_to_e(d_findings: DFindings) -> bool:
    """"their estimate of (d) is within ... of the exact (e) in total variation on the black image and ... and
    ... on the others": closer to (e) than to any importance estimate on #0, below 0.3 everywhere."""
    tv = d_findings.tv_to_e()
    return bool(tv[d_findings.position("black")] < 1e-3 and (tv < 0.3).all())


@claim
def stability_across_seeds_is_as_the_table_says(d_findings: DFindings) -> bool:
    """"plain importance sampling with reverse proposals gives the same answer for every seed on #0 and #6 but
    not on the stroke image #2; Rao-Blackwellised, it stays within ... on all three; prior prefixes on none":
    seed-to-seed TV below 0.05 (0.1 for the Rao-Blackwellised estimate) exactly there."""
    d = d_findings
    rev, prior = d.stable("IS, reverse proposals"), d.stable("IS, prior prefixes")
    rb = d.stable("IS, reverse proposals, Rao-Blackwellised", 2)
    return rev.tolist() == [True, False, True] and not prior.any() and bool(rb.all())


@claim
def prior_prefixes_have_the_larger_evidence_at_equal_n(d_findings: DFindings) -> bool:
    """"at equal n the prior prefixes' evidence is the larger for every seed and image"."""
    return bool((d_findings.reverse_wins("reverse proposals, first 16") == 0).all())


@claim
def plain_reverse_is_is_near_one_hot(d_findings: DFindings) -> bool:
    """"plain importance sampling with reverse proposals puts at least 0.78 on one value in every case": it
    counts one sampled middle value; its Rao-Blackwellised version reproduces it on the same proposals."""
    plain = d_findings.estimates["IS, reverse proposals"]
    return bool((plain.max(-1).values > 0.78).all()) and d_findings.rb_reproduces


@claim
def rao_blackwellisation_drops_little(d_findings: DFindings) -> bool:
    """"leaving out at most ... of the weight": below 1e-3."""
    return d_findings.dropped <= 1e-3


@claim
def every_estimate_agrees_on_black_and_stroke_images(d_findings: DFindings) -> bool:
    """"on #2 every estimate but the block chains started from the model's own samples puts at least ... of its
    mass on the bright half": above 0.95."""
    return d_findings.least_bright_on_stroke() > 0.95


@claim
def the_tempering_answers_and_the_rao_blackwellised_one_say_black_on_the_edge(d_findings: DFindings) -> bool:
    """"the small runs combined, both adaptive runs and the Rao-Blackwellised reverse proposals put most of the
    mass on black": above one half for the combination, each adaptive run and each seed."""
    edge = d_findings.position("edge")
    return bool((d_findings.estimates[SMALL_RUNS][:, edge, 0] > 0.5).all()
                and (d_findings.estimates[TEMPERING][:, edge, 0] > 0.5).all()
                and (d_findings.estimates["IS, reverse proposals, Rao-Blackwellised"][:, edge, 0] > 0.5).all())


@claim
def the_answer_is_black_bright_and_black(d_findings: DFindings) -> bool:
    """"On the black image #0 it says black and on the stroke image #2 a bright value (254, then 255)", and "On the
    edge image #6 it says black": the most likely values of the small runs combined by evidence."""
    top = {name: answer(d_findings)[index].topk(2).indices.tolist() for name, index in D_IMAGES.items()}
    return top["black"][0] == 0 and top["stroke"] == [254, 255] and top["edge"][0] == 0


@claim
def tempering_has_the_largest_evidence_for_d(d_findings: DFindings) -> bool:
    """"Tempering's estimates lie above every importance-sampling estimate on every image": the lower adaptive run
    and the small runs pooled."""
    return bool((d_findings.tempering_lead() > 0).all() and (d_findings.small_lead() > 0).all())


@claim
def importance_sampling_falls_short_with_high_probability(d_findings: DFindings) -> bool:
    """"with probability at least 0.99 the best importance-sampling estimate falls short of log2 p(x_>m) by at least
    ... bits on the stroke and edge images", "on the black image the lead is too small to show anything": a
    positive shortfall on those two, none on the black image."""
    short = d_findings.shortfall()
    return bool(short[d_findings.position("stroke")] > 0 and short[d_findings.position("edge")] > 0
                and short[d_findings.position("black")] == 0)


@claim
def the_edge_image_splits_the_methods(d_findings: DFindings) -> bool:
    """"On the edge image #6 the estimates range from a black middle to grey": some estimate puts more than
    0.99 on black and another less than 0.01."""
    black = d_findings.black_on_edge().values()
    return max(black) > 0.99 and min(black) < 0.01


@claim
def each_small_run_collapses(small_runs: SmallRuns) -> bool:
    """"each run ends with the descendants of at most ... of its ... first particles, and its particles differ on
    ... of the unknown pixels, where two test digits differ on ...": at most a quarter of the first particles
    survive and every run's particles are closer to each other than two test digits are."""
    s = small_runs
    return bool((s.ancestors <= s.particles // 4).all() and (s.hamming < s.digit_hamming).all())


@claim
def the_runs_evidence_spreads_over_bits(small_runs: SmallRuns) -> bool:
    """"the runs' log2 evidence differs by ... bits": more than one bit between the highest and lowest run on every
    image, so the evidence, not the count of runs, decides their weights."""
    spread = small_runs.log2_evidence.max(0).values - small_runs.log2_evidence.min(0).values
    return bool((spread > 1).all())


@claim
def combining_by_evidence_changes_the_edge_answer(small_runs: SmallRuns) -> bool:
    """"the plain mean of the runs would say ... on the edge image": the plain mean differs from the combination by
    more than 0.1 in total variation on one image at least."""
    s = small_runs
    return bool((0.5 * (s.answers.mean(0) - s.combined).abs().sum(-1) > 0.1).any())
