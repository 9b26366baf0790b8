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


def test_the_throughputs_the_text_quotes_are_those_its_tables_show(chapter_1):
    """The batch-32 and batch-128 throughputs and the ratios to the gated model and the masked kernels are read off
    the cost table's medians, each row with its batch size."""
    from pixelcnn.q1 import prose, tables

    speed = run_and_cache().metrics
    table = tables.cost_table(speed).set_index(["model", "batch"])["images/s"]
    quoted = prose.training(chapter_1["training"], chapter_1["batch"])
    assert quoted.batch32_rate == f"{table['q1, shifted kernels', 32]:.0f}"
    assert quoted.batch128_rate == f"{table['q1, shifted kernels', 128]:.0f}"
    cost = prose.cost(chapter_1["cost"], speed)
    assert cost.gated_median == f"{table['q1, shifted kernels', 128] / table['gated (course)', 128]:.2f}"
    assert cost.shifted_median == f"{table['q1, shifted kernels', 128] / table['q1, masked kernels', 128]:.2f}"


def test_every_claim_of_chapter_3_holds(committed):
    from pixelcnn.q3 import answer_d, chapter, cost, setting
    from pixelcnn.q3 import claims as c3

    q3 = chapter.read()
    checked = c3.check(**q3.claim_findings())
    assert set(checked) == {c.__name__ for c in c3.all_claims()}  # each claim has its findings
    assert all(c.__doc__ and c.__doc__.startswith('"') for c in c3.all_claims())  # each quotes its sentence
    assert len(cost.cost_table(q3.r3, q3.d_estimators, q3.rb, q3.chains, q3.blocks, q3.pools, q3.tempered,
                               q3.small_found, q3.pooled)) == 14
    answer = answer_d.answer(q3.d)  # the answer per named (d) image
    assert [int(answer[setting.D_IMAGES[name]].argmax()) for name in ("black", "stroke", "edge")] == [0, 254, 0]
