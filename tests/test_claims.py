"""The report's claims, checked against the committed cache (what the rendered report says)."""

from __future__ import annotations

import dataclasses

import pytest

from pixelcnn.q1 import gates as g1
from pixelcnn.q1 import search as f1
from pixelcnn.q1 import training_runs as r1
from pixelcnn.q2 import noncausal as ch2
from pixelcnn.study import claims, runs
from pixelcnn.study.benchmark import run_and_cache
from pixelcnn.study.settings import project_root


@pytest.fixture
def committed(monkeypatch):
    """The committed cache and the full profile, as the report is rendered."""
    monkeypatch.setenv("PIXELCNN_CACHE", str(project_root() / "cache"))
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)


@pytest.fixture
def chapter_1(committed) -> dict:
    speed = run_and_cache().metrics
    search = f1.search_findings(speed)
    return {"search": search, "training": r1.training_findings(speed),
            "batch": f1.batch_findings(search), "cost": g1.cost_findings(speed),
            "depth": g1.equal_depth_findings(speed, search)}


@pytest.mark.parametrize("module", [f1, r1, g1], ids=["q1_findings", "q1_training", "q1_gates"])
def test_every_claim_of_chapter_1_holds(chapter_1, module):
    checked = module.check(**chapter_1)
    assert set(checked) == {c.__name__ for c in claims.claims_of(module)}  # each claim has its findings
    assert all(c.__doc__ and c.__doc__.startswith('"') for c in claims.claims_of(module))  # each quotes its sentence


def test_every_claim_of_chapter_2_holds(committed):
    found = ch2.findings(runs.trained("q2"), runs.trained("q1-first"), runs.trained("q1"),
                         runs.evaluation("pretrained"), runs.samples("q2", n=64))
    assert set(ch2.check(f=found)) == {c.__name__ for c in claims.claims_of(ch2)}


def test_a_claim_the_results_do_not_bear_out_is_named_with_its_sentence(chapter_1):
    cost = dataclasses.replace(chapter_1["cost"], simple_vs_gated=(0.9, 0.8, 1.0))  # as if the gated model were faster
    with pytest.raises(claims.ClaimError, match="the_simple_model_is_cheaper_than_the_gated_one: .*times as fast"):
        g1.check(cost=cost)


def test_claims_are_not_checked_on_the_smoke_profile(chapter_1, monkeypatch):
    monkeypatch.setenv("PIXELCNN_PROFILE", "smoke")
    assert g1.check(cost=dataclasses.replace(chapter_1["cost"], simple_vs_gated=(0.9, 0.8, 1.0))) == []


def test_every_claim_of_chapter_3_holds(committed):
    from pixelcnn.q3 import (
        answer_d,
        answer_g,
        cost,
        explorer,
        importance,
        mcmc_reading,
        mcmc_runs,
        quantities,
        scores,
        setting,
        tempering_reading,
        tempering_runs,
        tiny_mcmc,
        validation,
    )
    from pixelcnn.q3 import claims as c3

    chains_d, chains_g = mcmc_runs.single_site_chains("d"), mcmc_runs.single_site_chains("g")
    judged, pools = scores.scores(), importance.g_pools()
    single = {"d": chains_d, "g": chains_g}
    block = {"d": mcmc_runs.block_move_chains("d"), "g": mcmc_runs.block_move_chains("g")}
    r3, d_est, rb, ex = quantities.results(), importance.d_estimators(), importance.rb_reverse(), explorer.results()
    found = mcmc_reading.chain_findings(single, block, judged.truth(), judged.test_ink())
    tempered = {q: tempering_reading.tempering_findings(tempering_runs.runs(q)) for q in setting.QUESTIONS}
    rhat = {q: tempering_reading.between_runs_rhat(judged.tempering[q]) for q in tempered}
    d_found = answer_d.d_findings(chains_d, found, d_est, rb, ex, tempered["d"])
    checked = c3.check(r3=r3, rr=importance.reverse_results(), conv=validation.convergence(),
                       heldout=quantities.heldout(), ex=ex, tiny=tiny_mcmc.tiny(), chain_findings=found,
                       d_findings=d_found,
                       g_findings=answer_g.g_findings(pools, judged.g, chains_g.indices, tempered["g"]),
                       tempering=tempered, tempering_rhat=rhat,
                       tempering_by_particles=tempering_reading.particles_study(
                           tempered["d"], rhat["d"], judged.fewer_particles, tempering_runs.runs))
    assert set(checked) == {c.__name__ for c in c3.all_claims()}  # each claim has its findings
    assert all(c.__doc__ and c.__doc__.startswith('"') for c in c3.all_claims())  # each quotes its sentence
    assert len(cost.cost_table(r3, d_est, rb, single, block, pools, tempered)) == 12
    answer = answer_d.answer(d_found)  # the answer per named (d) image
    assert [int(answer[setting.D_IMAGES[name]].argmax()) for name in ("black", "stroke", "edge")] == [0, 254, 0]
