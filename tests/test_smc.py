"""Tempering (``smc``) checked against enumeration on the tiny sharp model where single-site chains stay stuck."""

from __future__ import annotations

import math

import pytest
import torch

from pixelcnn.core import blocks, diagnostics, mcmc, smc
from pixelcnn.core import inference as inf
from pixelcnn.core.sampling import sample
from pixelcnn.q3.tiny_mcmc import TINY_BLOCKS, TINY_TEMPERING
from pixelcnn.q3.validation import tiny_model

HEIGHT, WIDTH, LEVELS = 4, 3, 3
HALF, M = 6, 7  # the top half's size and the middle pixel (2, 1), as raster indices


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest)


@pytest.fixture(scope="module")
def sharp():
    """test_blocks' sharp 3-level model and the image whose posteriors single-site chains miss there."""
    model = tiny_model(3, levels=TINY_BLOCKS["levels"], sharpness=TINY_BLOCKS["sharpness"])
    return model, inf.all_images(LEVELS, (HEIGHT, WIDTH))[424615:424616]


def tempered_log_target(model, x: torch.Tensor, known_from: int, beta: torch.Tensor) -> torch.Tensor:
    """log p(x_<k) + beta log p(x_>=k | x_<k), brute force from the per-pixel log probabilities."""
    logs = inf.pixel_log_probs(model, x).double()
    return logs[:, :known_from].sum(1) + beta * logs[:, known_from:].sum(1)


def test_tempered_moves_accept_with_the_ratio_of_the_tempered_target(sharp):
    model, _ = sharp
    x = torch.randint(0, LEVELS, (64, 1, HEIGHT, WIDTH), generator=torch.Generator().manual_seed(0))
    log_cond = mcmc.log_conditionals(model, x)
    beta = torch.rand(64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for a, b in ((0, 1), (4, 5), (0, HALF), (2, 5)):
        step = blocks.block_update(model, None, x, log_cond, (a, b), "forward", torch.Generator().manual_seed(1),
                                   known_from=HALF, beta=beta)
        generator = torch.Generator().manual_seed(1)  # replay the proposal with the same random numbers
        proposed = x.clone()
        if b - a == 1:
            proposed.view(64, -1)[:, a] = mcmc.update(model, x, log_cond, a, generator).proposed
        else:
            proposed.view(64, -1)[:, a:b] = sample(model, images=x, start=a, stop=b, generator=generator).view(
                64, -1)[:, a:b]
        # Brute force: pi(x') q(x_B | .) / (pi(x) q(x'_B | .)), q the forward model's own block proposal.
        q = [inf.pixel_log_probs(model, y)[:, a:b].double().sum(1) for y in (x, proposed)]
        brute = (tempered_log_target(model, proposed, HALF, beta) - tempered_log_target(model, x, HALF, beta)
                 + q[0] - q[1])
        torch.testing.assert_close(step.log_ratio, brute, atol=1e-4, rtol=0)
        assert 0 < step.accepted.sum() < 64
        assert torch.equal(step.x, torch.where(step.accepted.view(64, 1, 1, 1), proposed, x))
    # beta = 1 is the untempered ratio, to the bit
    one = blocks.block_update(model, None, x, log_cond, (0, HALF), "forward", torch.Generator().manual_seed(1),
                              known_from=HALF, beta=1.0)
    plain = blocks.block_update(model, None, x, log_cond, (0, HALF), "forward", torch.Generator().manual_seed(1))
    assert torch.equal(one.log_ratio, plain.log_ratio)


def test_a_tempered_sweep_keeps_exact_tempered_draws_exact(sharp):
    """40,000 exact draws of pi_beta (beta = 0.1), a sweep of independence and single-site moves at beta: still
    pi_beta (up to sampling noise, about 0.003 here), while the untempered sweep moves them off it."""
    model, image = sharp
    candidates, _ = inf.exact_posterior(model, image, HALF)
    beta = 0.1
    target = torch.softmax(tempered_log_target(model, candidates, HALF, torch.tensor(beta)), 0)
    generator = torch.Generator().manual_seed(0)
    x = candidates[torch.multinomial(target, 40_000, replacement=True, generator=generator)]
    run = blocks.chains(model, None, x, HALF, 1, generator, schedule=[("forward", 0, HALF)], sites=HALF,
                        beta=torch.full((len(x),), beta, dtype=torch.float64))
    after = diagnostics.total_variation(inf.state_frequencies(run.samples[-1], candidates, HALF, LEVELS), target)
    untempered = blocks.chains(model, None, x, HALF, 1, generator, schedule=[("forward", 0, HALF)], sites=HALF)
    moved = diagnostics.total_variation(inf.state_frequencies(untempered.samples[-1], candidates, HALF, LEVELS), target)
    assert after < 0.01 < 0.03 < moved


@pytest.mark.parametrize("question", ["d", "g"])
def test_tempering_reaches_the_exact_answer_and_evidence_where_single_site_chains_stay_stuck(sharp, question):
    """Forward moves only (no reverse model): particles from the prior, two seeds, each within TINY_TEMPERING's
    bound of the exact answer ((d): the middle pixel; (g): the top half's distribution), and its log evidence
    close to the exact log p(x_>=k); test_blocks shows single-site chains from one start more than 0.5 off."""
    model, image = sharp
    t = TINY_TEMPERING
    known_from = M + 1 if question == "d" else HALF
    candidates, exact = inf.exact_posterior(model, image, known_from)
    exact_log_z = float(torch.logsumexp(inf.log_probs(model, candidates).double(), 0))  # log p(x_>=k)
    exact_d = torch.zeros(LEVELS, dtype=torch.float64).index_add_(0, candidates.view(len(exact), -1)[:, M], exact)
    for seed in t["seeds"]:
        particles = smc.temper(model, None, image, known_from, t["particles"], torch.Generator().manual_seed(seed),
                               schedule=[("forward", 0, known_from)], sites=known_from, sweeps=t["sweeps"])
        assert particles.betas[0, 0] == 0 and particles.betas[-1, 0] == 1 and len(particles.ess) >= 2
        assert (particles.betas[1:] > particles.betas[:-1]).all()
        assert torch.equal(particles.resampled, particles.ess < 0.5)  # resampled exactly when the ESS fell below a half
        if question == "g":
            frequencies = inf.state_frequencies(particles.samples, candidates, HALF, LEVELS, particles.weights())
            error = diagnostics.total_variation(frequencies, exact)
        else:
            error = diagnostics.total_variation(smc.pixel_posterior(model, particles, M)[0], exact_d)
        assert error < t["within"], (seed, float(error))
        assert abs(float(particles.log_evidence[0]) - exact_log_z) < t["evidence_within_nats"]


def test_the_evidence_estimate_is_unbiased(sharp):
    """The mean of exp(log_evidence) over 400 runs of 8 particles is the exact p(x_>=k) within 3 standard
    errors, although each run is noisy."""
    model, image = sharp
    candidates, _ = inf.exact_posterior(model, image, HALF)
    exact = math.exp(float(torch.logsumexp(inf.log_probs(model, candidates).double(), 0)))
    particles = smc.temper(model, None, image.repeat(400, 1, 1, 1), HALF, 8, torch.Generator().manual_seed(0),
                           schedule=[("forward", 0, HALF)], sites=1)
    z = particles.log_evidence.exp() / exact
    assert abs(float(z.mean()) - 1) < 3 * float(z.std()) / math.sqrt(len(z))
    assert float(z.std()) > 0.05  # noisy enough that the check means something


def test_a_killed_run_resumes_with_the_same_random_numbers(sharp, tmp_path):
    model, image = sharp
    options = {"schedule": [("forward", 0, HALF)], "sites": 2, "ess_target": 0.9}
    whole = smc.temper(model, None, image, HALF, 64, torch.Generator().manual_seed(0), **options)
    checkpoint = tmp_path / "smc.pt"

    class Killed(Exception):
        pass

    saved = torch.save

    def kill_after_two_saves(obj, path, *args, **kwargs):
        saved(obj, path, *args, **kwargs)
        if len(obj["ess"]) == 2:
            raise Killed

    torch.save = kill_after_two_saves
    try:
        with pytest.raises(Killed):
            smc.temper(model, None, image, HALF, 64, torch.Generator().manual_seed(0), checkpoint=checkpoint,
                       **options)
    finally:
        torch.save = saved
    resumed = smc.temper(model, None, image, HALF, 64, torch.Generator().manual_seed(99), checkpoint=checkpoint,
                         **options)
    assert len(whole.ess) > 2
    assert torch.equal(whole.samples, resumed.samples) and torch.equal(whole.betas, resumed.betas)
    torch.testing.assert_close(whole.log_evidence, resumed.log_evidence)
