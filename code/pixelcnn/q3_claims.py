"""Q3: claims of chapter 3 about the exact quantities, the importance samplers and the tiny-model check.

Each ``@claim`` takes the chapter's cached results (``q3.results``, ``reverse_results``, ``convergence``,
``heldout``) and quotes the sentence it guards; ``check`` runs them at render time and the tests run them
against the committed cache. (The claims about the MCMC chains are still checked in the chapter.)
"""

from __future__ import annotations

import sys

import torch

from . import claims
from .claims import claim
from .q3 import Heldout, Results, ReverseResults, distinct, heldout_table
from .runs import evaluation, trained

SAMPLED = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")  # the tiny check's sampling methods


def check(**results) -> list[str]:
    """Run the claims whose results are given (``claims.check``)."""
    return claims.check(sys.modules[__name__], **results)


def largest_ess(r3: Results, rr: ReverseResults) -> float:
    """The largest effective sample size of any importance sampler of (d) and (g) on MNIST."""
    return torch.cat([r3.d_ess, rr.d_reverse_is_ess, r3.g_ess, rr.g_reverse_is_ess]).max().item()


@claim
def every_sampler_converges_on_the_tiny_model(conv: dict) -> bool:
    """"Every sampling method converges, at roughly the Monte Carlo rate": each error falls by more than
    eight times over the budgets."""
    return all((conv[k][-1] < conv[k][0] / 8).item() for k in SAMPLED)


@claim
def prior_prefixes_beat_reverse_proposals_for_d_on_the_tiny_model(conv: dict) -> bool:
    """"here that makes it the more accurate per sample", with a reverse model that "stays ... bits from it in
    KL divergence" (below 1e-3)."""
    return bool((conv["d"] < conv["d_reverse_is"]).all()) and conv["reverse_kl_bits"] < 1e-3


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
def most_of_the_explorer_went_to_e(ex) -> bool:
    """"computing the whole set took about ... minutes ..., most of it for the ... passes of (e)"."""
    return ex.seconds["e"] > sum(ex.seconds.values()) / 2
