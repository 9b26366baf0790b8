"""Q3: the claims of chapter 3, each a ``@claim`` that quotes the sentence it guards.

They take the chapter's cached results (``estimates``: r3, rr, heldout; ``validation``: conv; the
explorer's: ex; ``tiny_mcmc``: tiny) or its findings (``mcmc_findings``, ``d_judged``, ``g_judged``, each
named after its module; ``tempering``: the tempering runs' findings per question, ``tempering_rhat``: their
R-hat between runs per question, ``tempering_by_particles``: ``tempering_findings.particles_study``);
``check`` runs them at render time and the tests run them against the committed cache.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch

from ..study import claims
from ..study.claims import claim
from ..study.runs import evaluation, trained
from . import STARTS
from .d_judged import TEMPERING
from .tables import distinct, heldout_table
from .tempering_findings import evidence_rise, kind_means

if TYPE_CHECKING:
    from ..report.explorer import Explored
    from .d_judged import DFindings
    from .estimates import Heldout, Results, ReverseResults
    from .g_judged import GFindings
    from .mcmc_findings import ChainFindings
    from .tempering_findings import TemperingFindings
    from .tiny_mcmc import TinyCheck
    from .validation import Convergence

SAMPLED = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")  # the tiny check's sampling methods
TINY_G_SAMPLERS = ("g_sir_prior", "g_is_reverse", "g_mcmc", "g_mcmc_prior_start")  # the 4x4 check's (g) samplers


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
def every_method_converges_on_the_tiny_4x4_model(tiny: TinyCheck) -> bool:
    """"every method converges to the exact answers, and the reverse model alone does not": each (g) error falls
    by more than four times over the budgets, below the reverse model's."""
    final = [getattr(tiny, k).mean(0) for k in TINY_G_SAMPLERS]
    return all((v[-1] < v[0] / 4).item() and (v[-1] < tiny.g_reverse.mean()).item() for v in final)


@claim
def no_chains_converge(mcmc_findings: ChainFindings) -> bool:
    """"above the threshold of 1.01 for every image, single-site and block chains alike, and at least ... even
    at their lowest": every R-hat above 2."""
    f = mcmc_findings
    values = torch.cat([*f.single_rhat.values(), *f.block_rhat.values()])
    return bool((values > 2).all()) and f.lowest_rhat() > 2


@claim
def rhat_does_not_fall_steadily(mcmc_findings: ChainFindings) -> bool:
    """"From the first checkpoint to the last it falls for ... of the ... images and rises or stays for the
    others": fewer than half fall."""
    falls, images = mcmc_findings.falls()
    return falls < images / 2


@claim
def acceptance_counts_more_than_changes(mcmc_findings: ChainFindings) -> bool:
    """"the single-site chains accept ... of their proposals but change only ... of the unknown pixels per
    sweep": acceptance above 0.8, changes below 0.1; block row moves change under 2 % of their pixels."""
    f = mcmc_findings
    rows = [t.set_index("move") for t in f.moves.values()]
    return (min(f.single_acceptance.values()) > 0.8 and max(f.single_changed.values()) < 0.1
            and all(r.loc["forward rows", "fraction changed"] < 0.02 for r in rows))


@claim
def test_start_chains_change_few_pixels_and_end_above(mcmc_findings: ChainFindings) -> bool:
    """"change only ... to ... of the ... unknown pixels" and "end above the test image's log p for ... of the
    ... images": under a fifth of them, and most images."""
    f = mcmc_findings
    k, of = f.test_start_above
    return f.test_start_moved[1] < f.unknown["d"] / 5 and k > of / 2


@claim
def reverse_block_chains_find_a_black_higher_region_on_the_edge(mcmc_findings: ChainFindings) -> bool:
    """"the block chains started from the reverse model's completions reach ... bits above those started from
    the test image, with the middle black": more than 100 bits, P(black) above 0.99."""
    f, edge, rev, own = mcmc_findings, 2, STARTS.index("reverse"), STARTS.index("test-image")
    gap = f.block_log2_p["d"][edge, rev] - f.block_log2_p["d"][edge, own]
    return bool(gap > 100 and f.block_d[edge, rev, 0] > 0.99 and f.block_d[edge, own, 0] < 0.5)


@claim
def reverse_block_chains_climb_above_the_test_image_with_near_empty_tops(mcmc_findings: ChainFindings) -> bool:
    """"on ... of the four (g) images the chains started from the reverse model's completions climb above the test
    image's log2 p with tops of less than half its ink": at least two."""
    return len(mcmc_findings.near_empty_climbs()) >= 2


# --- tempering ---------------------------------------------------------------------------------------


@claim
def the_independence_move_works_early_and_the_reverse_move_never(tempering: dict[str, TemperingFindings]) -> bool:
    """"At the first temperature ... the whole-region forward move is accepted ... of the time ...; at β = 1 it is
    accepted ...", "The whole-region reverse move is accepted at no temperature in any run, and the row blocks
    change only a few percent of their pixels": above 0.1, then below 0.01; zero; below 5 % at every step."""
    first, last = (kind_means(tempering, "acceptance", step) for step in (0, -1))
    reverse = [v for f in tempering.values() for _, v in f.kind_traces("acceptance")["reverse prefix"]]
    rows = [v for f in tempering.values() for _, v in f.kind_traces("changed")["forward rows"]]
    return (first["forward prefix"] > 0.1 and last["forward prefix"] < 0.01
            and all((v == 0).all() for v in reverse) and all((v < 0.05).all() for v in rows))


@claim
def the_tempering_runs_agree_on_d_where_the_text_says(tempering: dict[str, TemperingFindings]) -> bool:
    """"the two tempering runs agree on #0 and #2 ... but not on #6": within 0.1 in total variation and one level
    in Wasserstein-1 on the first two, more than 0.2 apart on the edge image."""
    d = tempering["d"]
    tv, w1 = d.seed_tv(), d.seed_w1()
    return bool((tv[:2] < 0.1).all() and (w1[:2] < 1).all() and tv[2] > 0.2)


@claim
def tempering_runs_are_closer_than_the_chains_but_not_converged(tempering_rhat: dict[str, torch.Tensor],
                                                               mcmc_findings: ChainFindings) -> bool:
    """"the rank-normalised R-hat of log p(x) with each run's (resampled) particles as one chain is ... (the block
    chains: ... or more)" and "it does not reach R-hat <= 1.1 either": every value between 1.1 and the block
    chains' lowest."""
    values = torch.cat(list(tempering_rhat.values()))
    return bool((values > 1.1).all() and (values < mcmc_findings.lowest_rhat()).all())


@claim
def more_particles_find_more_evidence_but_no_lower_rhat(tempering_by_particles: dict) -> bool:
    """"From the fewest particles to the most, the runs' mean log2 evidence rises by ... bits", "$\\hat R$ does
    not fall steadily with the particles on #0 and #6 and stays above 1.1 at the most", "at the most the runs'
    evidence still differs by more than 5 bits on every image", "on the stroke image #2 the runs' answers come
    closer at every doubling": evidence up by more than 5 bits on every image; R-hat not monotone on the first and
    last image, above 1.1 at the most particles; the gap above 5 bits there; #2's TV falling at each step."""
    found, rhat = tempering_by_particles["found"], tempering_by_particles["rhat"]
    n = sorted(found)
    rise = evidence_rise(found)
    r = torch.stack([rhat[k] for k in n])  # [counts, N]
    tv = torch.stack([found[k].seed_tv()[1] for k in n])
    steady = [bool((r[1:, k] <= r[:-1, k]).all()) for k in (0, r.shape[1] - 1)]
    return bool((rise > 5).all() and not any(steady) and (r[-1] > 1.1).all()
                and (found[n[-1]].evidence_gap() > 5).all() and (tv[1:] < tv[:-1]).all())


# --- (d) judged -------------------------------------------------------------------------------------


@claim
def test_start_estimate_is_close_to_e(d_judged: DFindings) -> bool:
    """"their estimate of (d) is within ... of the exact (e) in total variation on the black image and ... and
    ... on the others": closer to (e) than to any importance estimate on #0, below 0.3 everywhere."""
    tv = d_judged.tv_to_e()
    return bool(tv[0] < 1e-3 and (tv < 0.3).all())


@claim
def stability_across_seeds_is_as_the_table_says(d_judged: DFindings) -> bool:
    """"plain importance sampling with reverse proposals gives the same answer for every seed on #0 and #6 but
    not on the stroke image #2; Rao-Blackwellised, it stays within ... on all three; prior prefixes on none":
    seed-to-seed TV below 0.05 (0.1 for the Rao-Blackwellised estimate) exactly there."""
    d = d_judged
    rev, prior = d.stable("IS, reverse proposals"), d.stable("IS, prior prefixes")
    rb = d.stable("IS, reverse proposals, Rao-Blackwellised", 2)
    return rev.tolist() == [True, False, True] and not prior.any() and bool(rb.all())


@claim
def prior_prefixes_have_the_larger_evidence_at_equal_n(d_judged: DFindings) -> bool:
    """"at equal n the prior prefixes' evidence is the larger for every seed and image"."""
    return bool((d_judged.reverse_wins("reverse proposals, first 16") == 0).all())


@claim
def plain_reverse_is_is_near_one_hot(d_judged: DFindings) -> bool:
    """"plain importance sampling with reverse proposals puts at least 0.78 on one value in every case": it
    counts one sampled middle value; its Rao-Blackwellised version reproduces it on the same proposals."""
    return bool((d_judged.estimates["IS, reverse proposals"].max(-1).values > 0.78).all()) and d_judged.rb_reproduces


@claim
def rao_blackwellisation_drops_little(d_judged: DFindings) -> bool:
    """"leaving out at most ... of the weight": below 1e-3."""
    return d_judged.dropped <= 1e-3


@claim
def every_estimate_agrees_on_black_and_stroke_images(d_judged: DFindings) -> bool:
    """"on #2 every estimate but the block chains started from the model's own samples puts at least ... of its
    mass on the bright half": above 0.95."""
    return d_judged.least_bright_on_stroke() > 0.95


@claim
def the_samplers_that_move_between_regions_say_black_on_the_edge(d_judged: DFindings) -> bool:
    """"Both tempering runs put most of the mass on black ..., as do the Rao-Blackwellised reverse proposals ...
    and the block chains started from the reverse model's completions": above one half for each run and seed."""
    edge = 2
    return bool((d_judged.estimates[TEMPERING][:, edge, 0] > 0.5).all()
                and (d_judged.estimates["IS, reverse proposals, Rao-Blackwellised"][:, edge, 0] > 0.5).all()
                and d_judged.estimates["block chains, reverse starts"][0, edge, 0] > 0.5)


@claim
def the_answer_is_black_bright_and_black(d_judged: DFindings) -> bool:
    """"On the black image #0 it says black and on the stroke image #2 a bright value (254, then 255)", and "On the
    edge image #6 it says black": the pooled tempering estimate's most likely values."""
    top = d_judged.reference().topk(2, dim=-1).indices
    return top[:, 0].tolist() == [0, 254, 0] and int(top[1, 1]) == 255


@claim
def tempering_has_the_largest_evidence_for_d(d_judged: DFindings) -> bool:
    """"Tempering's estimates lie above every importance-sampling estimate on every image"."""
    return bool((d_judged.tempering_lead() > 0).all())


@claim
def the_edge_image_splits_the_methods(d_judged: DFindings) -> bool:
    """"On the edge image #6 the estimates range from a black middle to grey": some estimate puts more than
    0.99 on black and another less than 0.01."""
    black = d_judged.black_on_edge().values()
    return max(black) > 0.99 and min(black) < 0.01


# --- (g) diagnosed ----------------------------------------------------------------------------------


@claim
def prior_proposals_have_the_larger_evidence_at_equal_n(g_judged: GFindings) -> bool:
    """"at equal n the prior proposals' evidence is the larger on ... of the four images": all four."""
    return g_judged.prior_wins() == len(g_judged.indices)


@claim
def the_g_tempering_runs_draw_different_tops(g_judged: GFindings) -> bool:
    """"the two runs draw different tops: their ink differs by up to ... and their mean log2 p by up to ... bits":
    on some image by more than 0.05 in ink and by more than 50 bits."""
    return bool(g_judged.tempering_spread("ink").max() > 0.05 and g_judged.tempering_spread("log2 p").max() > 50)


@claim
def the_prior_pools_as_one_match_tempering_for_g(g_judged: GFindings) -> bool:
    """"the prior pools give a log2 evidence above the lower tempering run on every image ..., above the higher run
    on ... of the four and at most ... bits below it on the others", so "At ... particles tempering is not yet a
    better sampler of (g) than importance sampling with the prior": above the lower run everywhere, above the
    higher on at least two images and less than one bit below it on the rest."""
    high = g_judged.pooled_lead(highest=True)
    return bool((g_judged.pooled_lead() > 0).all() and (high > 0).sum() >= 2 and (high > -1).all())


@claim
def sir_tops_differ_from_the_true_tops_as_the_text_says(g_judged: GFindings) -> bool:
    """"SIR with reverse proposals returns tops with less ink than the true ones, rated above them" and "SIR with
    prior proposals ... ink within ... of the true tops'", while "the reverse model's tops ... at least ... bits
    below"."""
    g, rev, prior = g_judged, "SIR, reverse, own pools", "SIR, prior, own pools"
    below = -g.gap("reverse model alone", "log2 p")
    return bool((g.gap(rev, "ink") < 0).all() and (g.gap(rev, "log2 p") > 0).all()
                and g.gap(prior, "ink").abs().max() < 0.06 and (below > 100).all())
