"""How Q3's tempering runs are read (``q3.tempering_reading``): steps per image, seed agreement, the moves by
kind at the first and the last step, and the cost counted from the runs' own records."""

from __future__ import annotations

import math

import pytest
import torch

from pixelcnn.q3.formatting import range_text
from pixelcnn.q3.setting import MIDDLE_INDEX
from pixelcnn.q3.tempering_reading import (
    between_runs_rhat,
    by_particles,
    evidence_rise,
    kind_means,
    kind_traces,
    over_questions,
    tempering_findings,
)
from pixelcnn.q3.tempering_runs import Tempered, draws

MOVES = ["forward 0-407", "forward 0-28", "forward 28-56", "reverse 0-407", "site"]
PASSES = torch.tensor([[1, 0, 407], [1, 0, 28], [1, 0, 28], [1, 1, 407], [3, 0, 0]])


def run(seed: int, middle: tuple[int, int], evidence: tuple[float, float]) -> Tempered:
    """A (d) run over two images and 4 particles: image 0 reaches beta = 1 in two steps, image 1 in one."""
    posterior = torch.zeros(2, 256, dtype=torch.float64)
    posterior[0, middle[0]] = posterior[1, middle[1]] = 1.0
    acceptance = torch.stack([torch.full((5, 2), 0.5), torch.full((5, 2), 0.1)])  # [T = 2, M, G]
    acceptance[:, 3] = 0.0
    return Tempered(
        inputs={"question": "d", "images": [0, 2], "particles": 4, "seed": seed, "sites": 3},
        images=torch.zeros(2, 1, 28, 28, dtype=torch.long), samples=torch.zeros(8, 1, 28, 28, dtype=torch.uint8),
        log_weights=torch.log(torch.tensor([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]).double()),
        betas=torch.tensor([[0.0, 0.0], [0.5, 1.0], [1.0, 1.0]], dtype=torch.float64),
        ess=torch.ones(2, 2), resampled=torch.zeros(2, 2, dtype=torch.bool),
        log_evidence=torch.tensor(evidence, dtype=torch.float64) * math.log(2), moves=MOVES, acceptance=acceptance,
        changed=acceptance / 10, passes=PASSES, sweeps=2, seconds=10.0 + seed, pixel_posterior=posterior)


@pytest.fixture
def found():
    return tempering_findings([run(0, (0, 200), (-300.0, -200.0)), run(1, (3, 200), (-302.0, -200.5))])


def test_steps_count_the_temperatures_each_image_needed(found):
    assert found.steps.tolist() == [[2, 1], [2, 1]] and found.seeds == (0, 1) and found.known_from == MIDDLE_INDEX + 1


def test_runs_are_compared_in_total_variation_wasserstein_and_evidence(found):
    assert found.seed_tv().tolist() == [1.0, 0.0]  # the first image's runs disagree on a one-hot answer
    assert found.seed_w1().tolist() == [3.0, 0.0]  # ... by three levels
    assert found.evidence_gap().tolist() == pytest.approx([2.0, 0.5])
    assert found.final_ess[0].tolist() == pytest.approx([0.25, 1.0])


def test_the_moves_are_read_by_kind_at_the_first_and_the_last_step(found):
    first, last = (kind_means({"d": found, "g": found}, "acceptance", step) for step in (0, -1))
    assert list(first) == ["forward prefix", "forward rows", "reverse prefix", "site"]
    assert first["forward prefix"] == 0.5 and last["forward prefix"] == pytest.approx(0.1)
    assert first["reverse prefix"] == last["reverse prefix"] == 0.0
    assert kind_means({"d": found}, "changed", -1)["site"] == pytest.approx(0.01)
    traces = kind_traces({"d": found, "g": found}, "acceptance")["forward rows"]
    assert len(traces) == 8  # two questions x two runs x two images
    assert traces[1][0].tolist() == [1.0, 1.0] and traces[1][1].tolist() == pytest.approx([0.5, 0.1])


def test_the_cost_is_counted_from_the_runs_records(found):
    forward, reverse, sampler = found.cost_per_image()
    per_sweep = PASSES.sum(0).double()  # forward 7, reverse 1, sampler steps 870
    assert forward == 4 * 2 * (2 * per_sweep[0] + 1) + 256 * 4  # 2 steps of (2 sweeps + a likelihood pass)
    assert reverse == 4 * 2 * 2 * per_sweep[1]
    assert sampler == 4 * 2 * 2 * per_sweep[2] + 4 * (MIDDLE_INDEX + 1)  # the moves and the prior draws
    assert found.seconds.tolist() == [10.0, 11.0]


def test_draws_follow_the_weights():
    r = run(0, (0, 0), (0.0, 0.0))
    r = Tempered(**{**r.__dict__, "samples": torch.arange(8, dtype=torch.uint8).view(8, 1, 1, 1).expand(8, 1, 28, 28)})
    x = draws(r)[..., 0, 0, 0]  # each particle's value is its index
    assert x[0].tolist() == [0, 0, 0, 0]  # one particle carries all the weight of image 0
    assert x[1].tolist() == [4, 5, 6, 7]  # equal weights: each particle once


def test_a_figure_shows_every_kth_draw_of_each_run():
    from pixelcnn.q3.scores import tempering_completions

    r = run(1, (0, 0), (0.0, 0.0))
    r = Tempered(**{**r.__dict__, "samples": torch.arange(8, dtype=torch.uint8).view(8, 1, 1, 1).expand(8, 1, 28, 28)})
    every, some = tempering_completions([r]), tempering_completions([r], per_image=2)
    assert list(every) == ["SMC tempering, seed 1"] and every["SMC tempering, seed 1"].shape == (2, 4, 1, 28, 28)
    assert some["SMC tempering, seed 1"][1, :, 0, 0, 0].tolist() == [4, 6]


def test_between_runs_rhat_separates_runs_in_different_regions():
    same = torch.randn(2, 1, 400, generator=torch.Generator().manual_seed(1))
    apart = same + torch.tensor([0.0, 3.0]).view(2, 1, 1)
    assert between_runs_rhat(same).item() < 1.01 < 1.5 < between_runs_rhat(apart).item()
    assert between_runs_rhat(same.sort(-1).values).item() < 1.01  # sorted draws: the halves are random all the same


def test_a_field_is_read_over_both_questions(found):
    both = over_questions({"d": found, "g": found}, "hamming")
    assert both.tolist() == found.hamming.flatten().tolist() * 2


def test_runs_with_more_particles_come_last_in_their_table(found):
    table = by_particles({64: found, 16: found}, {16: torch.tensor([1.5, 2.0]), 64: torch.tensor([1.25, 1.0])})
    assert table["particles"].tolist() == [16, 64]
    assert table["R-hat between runs"].tolist() == ["1.50 / 2.00", "1.25 / 1.00"]
    assert table["log2 evidence (mean of runs)"][0] == "-301.0 / -200.2"
    assert table["evidence gap (bits)"].tolist() == ["2.0 / 0.5"] * 2 and table["TV between runs"][0] == "1.00 / 0.00"
    assert table["minutes a run"].tolist() == pytest.approx([10.5 / 60] * 2)


def test_the_evidence_rise_runs_from_the_fewest_particles_to_the_most(found):
    few = tempering_findings([run(0, (0, 0), (-310.0, -210.0)), run(1, (0, 0), (-312.0, -210.0))])
    assert evidence_rise({64: found, 8: few}).tolist() == pytest.approx([10.0, 9.75])


def test_a_run_whose_particles_are_copies_has_no_diversity(found):
    assert found.hamming.tolist() == [[0.0, 0.0], [0.0, 0.0]]  # the fake runs' particles are all blank
    r = run(0, (0, 0), (0.0, 0.0))
    samples = torch.zeros(8, 1, 28, 28, dtype=torch.uint8)
    samples[1, 0, 0, :14] = 255  # image 0: one particle of four differs from the rest on 14 unknown pixels
    found = tempering_findings([Tempered(**{**r.__dict__, "samples": samples})])
    pairs = 2 * 3  # ordered pairs with that particle, of 4 * 3
    assert found.hamming[0].tolist() == pytest.approx([pairs / 12 * 14 / (MIDDLE_INDEX + 1), 0.0])


def test_ranges_read_as_prose():
    assert range_text(torch.tensor([3, 7, 5])) == "3 to 7" and range_text(torch.tensor([4, 4])) == "4"
    assert range_text(torch.tensor([0.123, 0.5]), ".2f") == "0.12 to 0.50"
