"""Many small tempering runs on frozen temperatures, checked against enumeration on the tiny sharp model: each run
collapses onto few of the posterior's regions, the diversity diagnostic sees it, and the runs combined by their
evidence converge to the exact answer while their plain mean does not."""

from __future__ import annotations

import pytest
import torch

from pixelcnn.core import diagnostics, smc
from pixelcnn.core import inference as inf
from pixelcnn.q3.tiny_mcmc import TINY_BLOCKS
from pixelcnn.q3.validation import tiny_model

HEIGHT, WIDTH, LEVELS, HALF = 4, 3, 3, 6
RUNS, PARTICLES = 400, 2  # fewer particles per run than the posterior has regions of mass above 0.05

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest)


@pytest.fixture(scope="module")
def small_runs():
    """The sharp model of test_blocks, its posterior of the top half given the bottom, and RUNS runs of PARTICLES
    particles each on five fixed temperatures (forward moves only)."""
    model = tiny_model(3, levels=TINY_BLOCKS["levels"], sharpness=TINY_BLOCKS["sharpness"])
    image = inf.all_images(LEVELS, (HEIGHT, WIDTH))[424615:424616]
    candidates, exact = inf.exact_posterior(model, image, HALF)
    temperatures = torch.linspace(0, 1, 5, dtype=torch.float64).view(-1, 1).expand(5, RUNS).contiguous()
    particles = smc.temper(model, None, image.repeat(RUNS, 1, 1, 1), HALF, PARTICLES,
                           torch.Generator().manual_seed(0), schedule=[("forward", 0, HALF)], sites=1,
                           temperatures=temperatures)
    answers = torch.stack([inf.state_frequencies(particles.samples[r * PARTICLES:(r + 1) * PARTICLES], candidates,
                                                 HALF, LEVELS, particles.log_weights[r].exp()) for r in range(RUNS)])
    return model, candidates, exact, temperatures, particles, answers


def test_frozen_temperatures_are_followed_and_every_step_resamples(small_runs):
    _, _, exact, temperatures, particles, _ = small_runs
    assert (exact > 0.05).sum() > PARTICLES
    assert torch.equal(particles.betas, temperatures) and particles.resampled.all()
    assert particles.ancestors.shape == (RUNS, PARTICLES) and (particles.ancestors < PARTICLES).all()


def test_the_diversity_diagnostic_sees_the_collapse_that_distinct_particles_do_not(small_runs):
    _, candidates, exact, _, particles, _ = small_runs
    within = diagnostics.hamming(particles.samples.view(RUNS, PARTICLES, -1), HALF).sum((1, 2)) / (
        PARTICLES * (PARTICLES - 1))
    draws = candidates[torch.multinomial(exact, 2 * RUNS, replacement=True, generator=torch.Generator().manual_seed(1))]
    between_draws = diagnostics.hamming(draws.view(RUNS, 2, -1), HALF)[:, 0, 1]
    assert float(within.mean()) < 0.7 * float(between_draws.mean())  # the runs' particles sit closer than draws do
    assert float(diagnostics.distinct_ancestors(particles.ancestors).double().mean()) < PARTICLES


def test_runs_combined_by_evidence_converge_to_the_exact_answer_and_their_plain_mean_does_not(small_runs):
    model, candidates, exact, _, particles, answers = small_runs

    def combined(runs: int) -> float:
        answer = diagnostics.combine_by_evidence(particles.log_evidence[:runs, None], answers[:runs, None])[0]
        return float(diagnostics.total_variation(answer, exact))

    plain = float(diagnostics.total_variation(answers.mean(0), exact))
    one_run = diagnostics.total_variation(answers, exact)
    assert float(one_run.min()) > 0.25  # every single run is far off
    assert combined(RUNS) < 0.02 < plain / 3 and combined(RUNS) < combined(RUNS // 8)
    pooled = diagnostics.pooled_log_evidence(particles.log_evidence.view(RUNS, 1))
    exact_log_z = float(torch.logsumexp(inf.log_probs(model, candidates).double(), 0))  # log p(bottom half)
    assert abs(float(pooled) - exact_log_z) < 0.1



def test_the_committed_small_runs_of_d_read_as_runs_weighted_by_their_evidence(monkeypatch):
    from pixelcnn.q3 import small_runs, tempering_runs
    from pixelcnn.study.settings import project_root

    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)
    monkeypatch.setenv("PIXELCNN_CACHE", str(project_root() / "cache"))
    found = small_runs.read(tempering_runs.small_runs("d"))
    runs, groups = found.log2_evidence.shape
    assert found.answers.shape == (runs, groups, 256) and found.particles == 16
    torch.testing.assert_close(found.weights.sum(0), torch.ones(groups, dtype=torch.float64))
    torch.testing.assert_close(found.combined.sum(1), torch.ones(groups, dtype=torch.float64))
    assert (found.pooled_log2_evidence <= found.log2_evidence.max(0).values + 1e-9).all()
    assert (found.pooled_log2_evidence >= found.log2_evidence.max(0).values - torch.log2(torch.tensor(runs))).all()
    assert (found.hamming < found.digit_hamming).all() and (found.ancestors <= found.particles).all()
    assert found.evidence_spread.shape == (groups,) and (found.evidence_spread > 0).all()
