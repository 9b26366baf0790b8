"""Everything chapter 3 reads, read once: ``read()`` loads every cached Q3 result and builds the findings of each
section from them; ``Chapter.claim_findings`` hands them to the chapter's claims (``claims.check``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import (
    answer_d,
    answer_g,
    answers_prose,
    importance,
    mcmc_reading,
    mcmc_runs,
    quantities,
    scores,
    small_runs,
    tempering_reading,
    tempering_runs,
    tiny_mcmc,
    validation,
)
from . import explorer as q3_explorer
from .setting import QUESTIONS


@dataclass(frozen=True)
class Chapter:
    """The results and findings of chapter 3 (each field named as the chapter names it)."""

    r3: quantities.Results  # (a)-(g) on the conditioning images, first methods
    rr: importance.ReverseResults  # the reverse model, alone and as a proposal
    conv: validation.Convergence  # every approximation against enumeration on a tiny model
    heldout: quantities.Heldout
    explored: q3_explorer.Explored  # (c)-(g) for the explorer's test images
    chains: dict  # question -> single-site chains
    blocks: dict  # question -> block-move chains
    tiny: tiny_mcmc.TinyCheck
    scores: scores.Scores
    chain_findings: mcmc_reading.ChainFindings
    tempered: dict  # question -> the adaptive tempering runs' findings
    tempering_rhat: dict  # question -> R-hat between the adaptive runs
    particles_study: dict
    small: small_runs.SmallRuns  # the small (d) runs
    small_found: tempering_reading.TemperingFindings  # the same runs read as tempering runs (their cost)
    d_estimators: importance.DEstimators
    rb: importance.RBReverse
    d: answer_d.DFindings
    pools: importance.GPools
    pooled: importance.PooledSIR  # the (g) answer
    g: answer_g.GFindings
    d_prose: answers_prose.DProse
    g_prose: answers_prose.GProse

    def claim_findings(self) -> dict:
        """The findings every claim of chapter 3 is checked on, by the names the claims take."""
        return {"r3": self.r3, "rr": self.rr, "conv": self.conv, "heldout": self.heldout, "ex": self.explored,
                "tiny": self.tiny, "chain_findings": self.chain_findings, "d_findings": self.d,
                "g_findings": self.g, "small_runs": self.small, "tempering": self.tempered,
                "tempering_rhat": self.tempering_rhat, "tempering_by_particles": self.particles_study}

    @property
    def g_answer(self) -> torch.Tensor:
        """The (g) answer's completions per (g) image, long [N, completions, 1, 28, 28]."""
        return torch.stack(list(answer_g.answer(self.pooled).values())).long()


def read() -> Chapter:
    """Read every result of chapter 3 (computing only those not cached)."""
    r3, rr, conv, heldout = quantities.results(), importance.reverse_results(), validation.convergence(), \
        quantities.heldout()
    explored = q3_explorer.results()
    chains = {q: mcmc_runs.single_site_chains(q) for q in QUESTIONS}
    blocks = {q: mcmc_runs.block_move_chains(q) for q in QUESTIONS}
    judged = scores.scores()
    found = mcmc_reading.chain_findings(chains, blocks, judged.truth(), judged.test_ink())
    tempered = {q: tempering_reading.tempering_findings(tempering_runs.runs(q)) for q in QUESTIONS}
    rhat = {q: tempering_reading.between_runs_rhat(judged.tempering[q]) for q in tempered}
    study = tempering_reading.particles_study(tempered["d"], rhat["d"], judged.fewer_particles, tempering_runs.runs)
    small = tempering_runs.small_runs("d")
    sr = small_runs.read(small)
    d_est, rb = importance.d_estimators(), importance.rb_reverse()
    d = answer_d.d_findings(chains["d"], found, d_est, rb, explored, tempered["d"], sr)
    pools, pooled = importance.g_pools(), importance.pooled_sir()
    g = answer_g.g_findings(pools, judged.g, chains["g"].indices, tempered["g"], pooled)
    tiny = tiny_mcmc.tiny()
    return Chapter(r3, rr, conv, heldout, explored, chains, blocks, tiny, judged, found, tempered, rhat, study, sr,
                   tempering_reading.tempering_findings(small), d_est, rb, d, pools, pooled, g,
                   answers_prose.d_prose(d, sr, tempered["d"]), answers_prose.g_prose(g))
