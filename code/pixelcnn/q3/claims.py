"""Q3: the claims of chapter 3, each a ``@claim`` that quotes the sentence it guards.

They take the chapter's cached results (``estimates``: r3, rr, heldout; ``validation``: conv; the
explorer's: ex) or its findings (``judged``: mcmc_findings, d_judged, g_diagnosed); ``check`` runs
them at render time and the tests run them against the committed cache.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch

from .. import claims
from ..claims import claim
from ..runs import evaluation, trained
from .tables import distinct, heldout_table

if TYPE_CHECKING:
    from ..explore import Explored
    from .estimates import Heldout, Results, ReverseResults
    from .judged import ChainFindings, DJudged, GDiagnosed
    from .validation import Convergence

SAMPLED = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")  # the tiny check's sampling methods


def check(**results) -> list[str]:
    """Run the claims whose results are given (``claims.check``)."""
    return claims.check(sys.modules[__name__], **results)


def largest_ess(r3: Results, rr: ReverseResults) -> float:
    """The largest effective sample size of any importance sampler of (d) and (g) on MNIST."""
    return torch.cat([r3.d_ess, rr.d_reverse_is_ess, r3.g_ess, rr.g_reverse_is_ess]).max().item()


@claim
def every_sampler_converges_on_the_tiny_model(conv: Convergence) -> bool:
    """"Every sampling method converges, at roughly the Monte Carlo rate": each error falls by more than
    eight times over the budgets."""
    return all((getattr(conv, k)[-1] < getattr(conv, k)[0] / 8).item() for k in SAMPLED)


@claim
def prior_prefixes_beat_reverse_proposals_for_d_on_the_tiny_model(conv: Convergence) -> bool:
    """"here that makes it the more accurate per sample", with a reverse model that "stays ... bits from it in
    KL divergence" (below 1e-3)."""
    return bool((conv.d < conv.d_reverse_is).all()) and conv.reverse_kl_bits < 1e-3


@claim
def the_more_a_distribution_is_given_the_more_it_gives_the_true_value(heldout: Heldout) -> bool:
    """"The more of the image a distribution is given, the more probability it puts on the value that is
    really there"."""
    return bool(heldout_table(heldout)["bits of the true value"].is_monotonic_decreasing)


@claim
def one_sample_carries_every_importance_estimate(r3: Results, rr: ReverseResults) -> bool:
    """"no effective sample size ... exceeds ..., with either proposal", and the reverse model is "here
    weaker" than the course model."""
    return largest_ess(r3, rr) < 5 and trained("reverse").metrics["test_bpd"] > evaluation("pretrained")["test_bpd"]


@claim
def sir_tops_are_preferred_to_the_true_tops_and_the_reverse_ones_are_not(rr: ReverseResults) -> bool:
    """"The SIR completions, picked by the forward model's weights, are preferred by it to the true tops",
    while the reverse model's own tops are rated below them."""
    fb = rr.forward_bpd
    return fb["g"] < fb["original"] and fb["g_reverse_is"] < fb["original"] < fb["g_reverse"]


@claim
def only_the_reverse_model_alone_draws_different_tops(r3: Results, rr: ReverseResults) -> bool:
    """"both SIR variants return the same completion again and again ..., while the reverse model alone draws
    genuinely different top halves"."""
    n = len(r3.g) // len(r3.images)
    return min(distinct(rr.g_reverse, n)) > max(distinct(r3.g, n) + distinct(rr.g_reverse_is, n))


@claim
def most_of_the_explorer_went_to_e(ex: Explored) -> bool:
    """"computing the whole set took about ... minutes ..., most of it for the ... passes of (e)"."""
    return ex.seconds["e"] > sum(ex.seconds.values()) / 2


# --- MCMC -------------------------------------------------------------------------------------------


@claim
def every_tiny_method_converges_and_the_reverse_model_alone_does_not(mcmc_findings: ChainFindings) -> bool:
    """"every method converges to the exact answers, and the reverse model alone does not (its error is its
    misfit)": each (g) sampler's error falls more than four times over the budgets, below the reverse model's."""
    f = mcmc_findings
    return all(v[-1] < v[0] / 4 and v[-1] < f.tiny_reverse_error for v in f.tiny_errors.values())


@claim
def chains_from_the_test_image_stay_where_they_start(mcmc_findings: ChainFindings) -> bool:
    """"Chains started from the test image stay where they start. Their mean log2 p(x) never moves more than
    ... bits from the test image's (of several hundred)"."""
    return mcmc_findings.drift < mcmc_findings.far_bits


@claim
def other_chains_mostly_stay_far_below(mcmc_findings: ChainFindings) -> bool:
    """"After the last sweep, the chains started from the reverse model's completions are more than ... bits
    below the test image in ... of the ... cases ..., those started from the model's own samples in ...":
    for each start, in more than half of them."""
    return min(mcmc_findings.far.values()) > mcmc_findings.cases / 2


@claim
def the_starts_sample_different_regions(mcmc_findings: ChainFindings) -> bool:
    """"The split R-hat over all chains of an image is at least ...: the three groups sample different
    regions" (above 1.1)."""
    return mcmc_findings.rhat > 1.1


# --- (d) judged -------------------------------------------------------------------------------------


@claim
def the_reverse_methods_say_black_on_the_black_image(d_judged: DJudged) -> bool:
    """"The chains started from the reverse model's completions, the reverse model and importance sampling with
    reverse proposals all say black, as sure as the reference" (within 0.01 in total variation)."""
    e, black = d_judged.errors, d_judged.at["black"]
    return bool(e["IS, reverse proposals"][:, black].max() < 0.01 and e["reverse model alone"][0, black] < 0.01
                and e["MCMC from reverse starts"][0, black] < 0.01)


@claim
def prior_prefixes_flip_with_the_seed(d_judged: DJudged) -> bool:
    """"Importance sampling with prior prefixes says so for some seeds and not for others": its distance to the
    reference ranges over more than 0.5."""
    return d_judged.prior_range[1] - d_judged.prior_range[0] > 0.5


@claim
def every_estimate_puts_the_stroke_pixel_on_the_bright_half(d_judged: DJudged) -> bool:
    """"Every estimate puts at least ...% of its mass on the bright half", like the reference (above 99 %)."""
    return d_judged.stroke_white > 0.99


@claim
def the_methods_disagree_completely_on_the_edge(d_judged: DJudged) -> bool:
    """"Here the methods disagree completely: every estimate is at least ... from the reference in total
    variation" (more than 0.75), and importance sampling with reverse proposals makes the middle black."""
    edge = d_judged.at["edge"]
    return (d_judged.edge_distance > 0.75 and d_judged.white["IS, reverse proposals"][edge] < 0.01
            and d_judged.reverse_is_black_at_edge > 0.99)


@claim
def the_reverse_start_chains_beat_the_test_image_on_the_edge(d_judged: DJudged) -> bool:
    """"for this image the chains of the reverse starts are even more probable under the forward model than the
    test image itself"."""
    return d_judged.reverse_above_at_edge


# --- (g) diagnosed ----------------------------------------------------------------------------------


@claim
def reverse_sir_tops_have_less_ink_and_more_probability(g_diagnosed: GDiagnosed) -> bool:
    """"SIR with reverse-model proposals, from one pool or from a pool per completion, returns tops with less
    ink than the true ones for every image, and the forward model gives them a higher probability than the true
    tops"."""
    ink, lp = g_diagnosed.ink, g_diagnosed.log2_p
    true_ink, true_lp = ink["test image itself"], lp["test image itself"]
    return bool((ink["SIR, reverse, one pool"] < true_ink).all() and (ink["SIR, reverse, own pools"] < true_ink).all()
                and g_diagnosed.peak_above[0] > 0 and (lp["SIR, reverse, one pool"] > true_lp).all())


@claim
def chains_from_the_test_image_keep_the_ink(g_diagnosed: GDiagnosed) -> bool:
    """"their tops keep the ink of the true tops (within ... for every image)" (below 0.01)."""
    return g_diagnosed.kept_ink < 0.01


@claim
def the_reverse_tops_are_rated_far_below(g_diagnosed: GDiagnosed) -> bool:
    """"the forward model rates them at least ... bits below the true tops" (more than 100)."""
    return g_diagnosed.reverse_below > 100


@claim
def prior_sir_lands_in_between(g_diagnosed: GDiagnosed) -> bool:
    """"its tops carry ink within ... of the true tops' and a log2 p within ... bits of theirs", far closer than
    the reverse model's."""
    return g_diagnosed.prior_ink_gap < 0.06 and g_diagnosed.prior_lp_gap < g_diagnosed.reverse_below
