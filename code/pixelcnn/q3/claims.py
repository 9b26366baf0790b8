"""Q3: the claims of chapter 3, each a ``@claim`` that quotes the sentence it guards; those of the answers to
(d) and (g) in ``claims_d`` and ``claims_g``.

They take the chapter's cached results (``quantities``: r3, heldout; ``importance``: rr; ``validation``: conv;
``explorer``: ex; ``tiny_mcmc``: tiny) or its findings (``chain_findings``: ``mcmc_reading.chain_findings``;
``d_findings``, ``g_findings``: those of ``answer_d``, ``answer_g``; ``tempering``: the tempering runs' findings
per question, ``tempering_rhat``: their R-hat between runs per question, ``tempering_by_particles``:
``tempering_reading.particles_study``); ``check`` runs them at render time and the tests run them against the
committed cache.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch

from ..study import claims
from ..study.claims import claim
from ..study.runs import evaluation, trained
from . import claims_d, claims_g
from .comparison import heldout_table, largest_ess
from .formatting import distinct
from .setting import STARTS, d_position
from .tempering_reading import evidence_rise, kind_means

if TYPE_CHECKING:
    from collections.abc import Callable

    from .explorer import Explored
    from .importance import ReverseResults
    from .mcmc_reading import ChainFindings
    from .quantities import Heldout, Results
    from .tempering_reading import TemperingFindings
    from .tiny_mcmc import TinyCheck
    from .validation import Convergence

SAMPLED = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")  # the tiny check's sampling methods
TINY_G_SAMPLERS = ("g_sir_prior", "g_is_reverse", "g_mcmc", "g_mcmc_prior_start")  # the 4x4 check's (g) samplers


def modules() -> tuple:
    """The modules that hold the chapter's claims."""
    return sys.modules[__name__], claims_d, claims_g


def all_claims() -> list[Callable[..., bool]]:
    """Every claim of the chapter."""
    return [c for module in modules() for c in claims.claims_of(module)]


def check(**results) -> list[str]:
    """Run the claims of the chapter whose results are given (``claims.check``)."""
    return [name for module in modules() for name in claims.check(module, **results)]


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
def no_chains_converge(chain_findings: ChainFindings) -> bool:
    """"above the threshold of 1.01 for every image, single-site and block chains alike, and at least ... even
    at their lowest": every R-hat above 2."""
    f = chain_findings
    values = torch.cat([*f.single_rhat.values(), *f.block_rhat.values()])
    return bool((values > 2).all()) and f.lowest_rhat() > 2


@claim
def rhat_does_not_fall_steadily(chain_findings: ChainFindings) -> bool:
    """"From the first checkpoint to the last it falls for ... of the ... images and rises or stays for the
    others": fewer than half fall."""
    falls, images = chain_findings.falls()
    return falls < images / 2


@claim
def acceptance_counts_more_than_changes(chain_findings: ChainFindings) -> bool:
    """"the single-site chains accept ... of their proposals but change only ... of the unknown pixels per
    sweep": acceptance above 0.8, changes below 0.1; block row moves change under 2 % of their pixels."""
    f = chain_findings
    rows = [t.set_index("move") for t in f.moves.values()]
    return (min(f.single_acceptance.values()) > 0.8 and max(f.single_changed.values()) < 0.1
            and all(r.loc["forward rows", "fraction changed"] < 0.02 for r in rows))


@claim
def test_start_chains_change_few_pixels_and_end_above(chain_findings: ChainFindings) -> bool:
    """"change only ... to ... of the ... unknown pixels" and "end above the test image's log p for ... of the
    ... images": under a fifth of them, and most images."""
    f = chain_findings
    k, of = f.test_start_above
    return f.test_start_moved[1] < f.unknown["d"] / 5 and k > of / 2


@claim
def reverse_block_chains_find_a_black_higher_region_on_the_edge(chain_findings: ChainFindings) -> bool:
    """"the block chains started from the reverse model's completions reach ... bits above those started from
    the test image, with the middle black": more than 100 bits, P(black) above 0.99."""
    f, edge, rev, own = chain_findings, d_position("edge"), STARTS.index("reverse"), STARTS.index("test-image")
    gap = f.block_log2_p["d"][edge, rev] - f.block_log2_p["d"][edge, own]
    return bool(gap > 100 and f.block_d[edge, rev, 0] > 0.99 and f.block_d[edge, own, 0] < 0.5)


@claim
def reverse_block_chains_climb_above_the_test_image_with_near_empty_tops(chain_findings: ChainFindings) -> bool:
    """"on ... of the four (g) images the chains started from the reverse model's completions climb above the test
    image's log2 p with tops of less than half its ink": at least two."""
    return len(chain_findings.near_empty_climbs()) >= 2


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
    agree, edge = [d_position("black"), d_position("stroke")], d_position("edge")
    return bool((tv[agree] < 0.1).all() and (w1[agree] < 1).all() and tv[edge] > 0.2)


@claim
def tempering_runs_are_closer_than_the_chains_but_not_converged(tempering_rhat: dict[str, torch.Tensor],
                                                               chain_findings: ChainFindings) -> bool:
    """"the rank-normalised R-hat of log p(x) with each run's (resampled) particles as one chain is ... (the block
    chains: ... or more)" and "it stays far above the threshold of 1.01 too": every value between 1.1 and the block
    chains' lowest."""
    values = torch.cat(list(tempering_rhat.values()))
    return bool((values > 1.1).all() and (values < chain_findings.lowest_rhat()).all())


@claim
def more_particles_find_more_evidence_but_no_lower_rhat(tempering_by_particles: dict) -> bool:
    """"From the fewest particles to the most, the runs' mean log2 evidence rises by ... bits", "$\\hat R$ does
    not fall steadily with the particles on #0 and #6 and stays far above the threshold at the most", "at the most
    the runs'
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
