"""The report's claims, checked against the committed cache (what the rendered report says)."""

from __future__ import annotations

import dataclasses

import pytest

from pixelcnn import claims, runs
from pixelcnn import q1_findings as f1
from pixelcnn import q2 as ch2
from pixelcnn.benchmark import run_and_cache
from pixelcnn.config import project_root


@pytest.fixture
def committed(monkeypatch):
    """The committed cache and the full profile, as the report is rendered."""
    monkeypatch.setenv("PIXELCNN_CACHE", str(project_root() / "cache"))
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)


@pytest.fixture
def chapter_1(committed) -> dict:
    speed = run_and_cache().metrics
    search = f1.search_findings(speed)
    return {"search": search, "training": f1.training_findings(speed, runs.trained("q1"), runs.trained("q1-first")),
            "cost": f1.cost_findings(speed), "depth": f1.equal_depth_findings(speed, search)}


def test_every_claim_of_chapter_1_holds(chapter_1):
    checked = f1.check(**chapter_1)
    assert set(checked) == {c.__name__ for c in claims.claims_of(f1)}  # each claim has its findings
    assert all(c.__doc__ and c.__doc__.startswith('"') for c in claims.claims_of(f1))  # each quotes its sentence


def test_every_claim_of_chapter_2_holds(committed):
    found = ch2.findings(runs.trained("q2"), runs.trained("q1-first"), runs.trained("q1"),
                         runs.evaluation("pretrained"), runs.samples("q2", n=64))
    assert set(ch2.check(f=found)) == {c.__name__ for c in claims.claims_of(ch2)}


def test_a_claim_the_results_do_not_bear_out_is_named_with_its_sentence(chapter_1):
    cost = dataclasses.replace(chapter_1["cost"], simple_vs_gated=(0.9, 0.8, 1.0))  # as if the gated model were faster
    with pytest.raises(claims.ClaimError, match="the_simple_model_is_cheaper_than_the_gated_one: .*times as fast"):
        f1.check(cost=cost)


def test_claims_are_not_checked_on_the_smoke_profile(chapter_1, monkeypatch):
    monkeypatch.setenv("PIXELCNN_PROFILE", "smoke")
    assert f1.check(cost=dataclasses.replace(chapter_1["cost"], simple_vs_gated=(0.9, 0.8, 1.0))) == []


def test_every_claim_of_chapter_3_holds(committed):
    from pixelcnn import explore
    from pixelcnn.q3 import chains, estimates, judged, tiny_mcmc, validation
    from pixelcnn.q3 import claims as c3

    chains_d, chains_g, scores = chains.chains("d"), chains.chains("g"), chains.scores()
    mcmc_findings = judged.chain_findings(chains_d, chains_g, scores, tiny_mcmc.tiny())
    checked = c3.check(r3=estimates.results(), rr=estimates.reverse_results(), conv=validation.convergence(),
                       heldout=estimates.heldout(), ex=explore.results(), mcmc_findings=mcmc_findings,
                       d_judged=judged.d_findings(chains_d, chains.d_estimators(), mcmc_findings),
                       g_diagnosed=judged.g_findings(chains_g, scores))
    assert set(checked) == {c.__name__ for c in claims.claims_of(c3)}  # each claim has its findings
    assert all(c.__doc__ and c.__doc__.startswith('"') for c in claims.claims_of(c3))  # each quotes its sentence
