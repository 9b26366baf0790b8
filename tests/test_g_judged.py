"""How Q3's (g) is judged (``q3.answer_g``): the prior pools read as one pool against the tempering runs, the
runs' spread in the forward model's measures, and the evidence table."""

from __future__ import annotations

import math

import pytest
import torch

from pixelcnn.q3.answer_g import GFindings, g_evidence_table


@pytest.fixture
def found() -> GFindings:
    """Two images, two pools of 512 proposals, two tempering runs of 64 particles."""
    prior = torch.tensor([[-10.0, -12.0], [-20.0, -20.0]], dtype=torch.float64)
    runs = torch.tensor([[-11.0, -9.0], [-21.0, -19.5]], dtype=torch.float64)
    measures = {"ink": {"test image itself": torch.tensor([0.1, 0.2]),
                        "SMC tempering, seed 0": torch.tensor([0.1, 0.3]),
                        "SMC tempering, seed 1": torch.tensor([0.2, 0.25])}}
    pooled = (torch.logsumexp(prior * math.log(2), 1) - math.log(2)) / math.log(2)  # the pools as one
    return GFindings((0, 3), prior, prior - 5, 512, measures, runs, 64, pooled, torch.tensor([1.5, 3.0]), [1, 3],
                     8, 60.0, torch.tensor([120.0, 180.0], dtype=torch.float64))


def test_the_pools_as_one_average_their_estimates_not_their_logs(found):
    # image 0: log2 of the mean of 2^-10 and 2^-12, above the mean of the logs (-11)
    assert found.pooled_prior()[0].item() == pytest.approx(math.log2((2**-10 + 2**-12) / 2))
    assert found.pooled_prior()[1].item() == pytest.approx(-20.0)


def test_the_lead_is_taken_over_the_lower_or_the_higher_run(found):
    pooled = found.pooled_prior()
    assert torch.allclose(found.pooled_lead(), pooled - torch.tensor([-11.0, -21.0], dtype=torch.float64))
    assert torch.allclose(found.pooled_lead(highest=True), pooled - torch.tensor([-9.0, -19.5], dtype=torch.float64))


def test_the_runs_spread_is_read_from_their_measures(found):
    assert torch.allclose(found.tempering_spread("ink"), torch.tensor([0.1, 0.05]))


def test_the_evidence_table_names_every_estimator_and_its_n(found):
    table = g_evidence_table(found)
    assert list(table.columns) == ["estimator", "#0", "#3"]
    assert table["estimator"].tolist() == [
        "prior (the forward model's own tops), n = 512", "reverse-model completions, n = 512",
        "prior, the 2 pools as one, n = 1,024", "SMC tempering from the prior, 64 particles (runs)"]
    assert table["#3"].tolist()[2:] == ["-20", "-20 (-21 to -20)"]


def test_the_answer_is_argued_at_the_n_that_produces_it(found):
    assert found.pool == 1024 and found.pooled_matches()
    assert found.seconds_ratio() == pytest.approx(2.5)  # a tempering run (mean 150 s) over the answer (60 s)
    moved = GFindings(**{**found.__dict__, "pooled_evidence": found.pooled_evidence + 0.01})
    assert not moved.pooled_matches()
