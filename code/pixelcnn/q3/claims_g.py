"""Q3: the claims of chapter 3 about its answer to (g) (``answer_g``), each a ``@claim`` that quotes the sentence
it guards (run by ``claims.check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..study.claims import claim

if TYPE_CHECKING:
    from .answer_g import GFindings


@claim
def prior_proposals_have_the_larger_evidence_at_equal_n(g_findings: GFindings) -> bool:
    """"at equal n the prior proposals' evidence is the larger on ... of the four images": all four."""
    return g_findings.prior_wins() == len(g_findings.indices)


@claim
def the_g_tempering_runs_draw_different_tops(g_findings: GFindings) -> bool:
    """"the two runs draw different tops: their ink differs by up to ... and their mean log2 p by up to ... bits":
    on some image by more than 0.05 in ink and by more than 50 bits."""
    return bool(g_findings.tempering_spread("ink").max() > 0.05 and g_findings.tempering_spread("log2 p").max() > 50)


@claim
def the_prior_pools_as_one_match_tempering_for_g(g_findings: GFindings) -> bool:
    """"the prior pools give a log2 evidence above the lower tempering run on every image ..., above the higher run
    on ... of the four and at most ... bits below it on the others", so "At ... particles tempering is not yet a
    better sampler of (g) than importance sampling with the prior": above the lower run everywhere, above the
    higher on at least two images and less than one bit below it on the rest."""
    high = g_findings.pooled_lead(highest=True)
    return bool((g_findings.pooled_lead() > 0).all() and (high > 0).sum() >= 2 and (high > -1).all())


@claim
def sir_tops_differ_from_the_true_tops_as_the_text_says(g_findings: GFindings) -> bool:
    """"SIR with reverse proposals returns tops with less ink than the true ones, rated above them" and "SIR with
    prior proposals ... ink within ... of the true tops'", while "the reverse model's tops ... at least ... bits
    below"."""
    g, rev, prior = g_findings, "SIR, reverse, own pools", "SIR, prior, own pools"
    below = -g.gap("reverse model alone", "log2 p")
    return bool((g.gap(rev, "ink") < 0).all() and (g.gap(rev, "log2 p") > 0).all()
                and g.gap(prior, "ink").abs().max() < 0.06 and (below > 100).all())


@claim
def the_answer_is_argued_at_its_own_n(g_findings: GFindings) -> bool:
    """"the answer resamples its completions from the very pool whose evidence the argument uses": its log2 evidence
    is that of the prior pools read as one, to 1e-3 bits, and it took less time than a tempering run."""
    return g_findings.pooled_matches() and g_findings.seconds_ratio() > 1
