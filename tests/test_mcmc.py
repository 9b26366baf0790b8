"""Metropolis-within-Gibbs for (d) and (g), checked against enumeration on tiny models (4x3 binary images)."""

from __future__ import annotations

import pytest
import torch

import pixelcnn
from pixelcnn.core import diagnostics, mcmc
from pixelcnn.core import estimators as est
from pixelcnn.core import inference as inf
from pixelcnn.q3.tiny_mcmc import TinyCheck, tiny_check
from pixelcnn.q3.validation import tiny_model

HEIGHT, WIDTH = 4, 3  # not square, so nothing can assume it
HALF, M = 6, 7  # the top half's size and the middle pixel (2, 1), as raster indices


@pytest.fixture(scope="module")
def tiny():
    """A random forward model with a spread-out distribution, a random (mismatched) reverse model, and an image
    whose bottom half is unusual for the model, so that the posteriors differ from the prior."""
    model = tiny_model(1, sharpness=4.0)
    torch.manual_seed(5)
    reverse = pixelcnn.build("simple", levels=2, channels=8, layers=2, first_kernel_size=3).eval()
    everything = inf.all_images(2, (HEIGHT, WIDTH))
    log_p = inf.log_prob(model, everything).double()
    image = everything[45:46]  # top half blank, bottom half 101 101
    return model, reverse, everything, log_p, image


def exact_posteriors(everything, log_p, image):
    """(d): p(x_M | x_>M) [2]; (g): the candidate images with the image's bottom half and their probabilities."""
    flat, given = everything.view(len(everything), -1), image.reshape(-1)
    after = (flat[:, M + 1:] == given[M + 1:]).all(1)
    d = torch.stack([log_p[after & (flat[:, M] == v)].logsumexp(0) for v in range(2)]).softmax(0)
    bottom = (flat[:, HALF:] == given[HALF:]).all(1)
    return d, everything[bottom], log_p[bottom].softmax(0)


def test_one_update_accepts_with_the_likelihood_ratio_of_later_pixels():
    torch.manual_seed(0)
    model = pixelcnn.build("simple", levels=3, channels=8, layers=2, first_kernel_size=3).eval()
    x = torch.randint(0, 3, (64, 1, HEIGHT, WIDTH), generator=torch.Generator().manual_seed(0))
    index = 4
    step = mcmc.update(model, x, mcmc.log_conditionals(model, x), index, torch.Generator().manual_seed(1))
    proposed = x.clone()
    proposed.view(64, -1)[:, index] = step.proposed
    # Brute force: p(x') q(x_j) / (p(x) q(x'_j)) with q = p(x_j | x_<j), the same for both (x_<j is shared).
    q = inf.conditional(model, x, index)
    rows = torch.arange(64)
    brute = (inf.log_prob(model, proposed).double() - inf.log_prob(model, x).double()
             - q[rows, step.proposed].log() + q[rows, x.view(64, -1)[:, index]].log())
    torch.testing.assert_close(step.log_ratio, brute, atol=1e-4, rtol=0)
    assert 0 < step.accepted.sum() < 64  # both outcomes occur ...
    assert torch.equal(step.x, torch.where(step.accepted.view(64, 1, 1, 1), proposed, x))  # ... and are applied
    torch.testing.assert_close(step.log_cond, mcmc.log_conditionals(model, step.x))


def test_a_sweep_costs_one_pass_per_unknown_pixel_and_known_pixels_never_change(tiny):
    model, _, everything, _, _ = tiny
    batches = []
    hook = model.register_forward_hook(lambda module, args, out: batches.append(len(args[0])))
    x = everything[torch.randint(0, len(everything), (5,), generator=torch.Generator().manual_seed(0))]
    unknown = [0, 2, 4, 7, 9]  # need not be a prefix
    try:
        chains = mcmc.metropolis_within_gibbs(model, x, unknown, 3, torch.Generator().manual_seed(0))
        assert len(batches) == chains.passes == 1 + 3 * len(unknown) and set(batches) == {5}
        batches.clear()
        tracked = mcmc.metropolis_within_gibbs(model, x, unknown, 4, torch.Generator().manual_seed(0), pixel=7,
                                               rao_blackwell_every=2)
        assert len(batches) == tracked.passes == 1 + 4 * len(unknown) + 2 * model.levels  # 2 full conditionals
    finally:
        hook.remove()
    known = [j for j in range(HEIGHT * WIDTH) if j not in unknown]
    states = chains.samples.view(3, 5, -1)
    assert (states[:, :, known] == x.view(1, 5, -1)[:, :, known]).all()
    assert (states[:, :, unknown] != x.view(1, 5, -1)[:, :, unknown]).any()  # the unknown ones do move
    assert chains.acceptance.shape == chains.log_p.shape == (3, 5)
    torch.testing.assert_close(chains.log_p[-1], inf.log_prob(model, chains.samples[-1]).double(), atol=1e-4, rtol=0)
    assert tracked.values.shape == (4, 5) and tracked.recycled.shape == (4, 5, 2)
    assert tracked.full_conditionals.shape == (2, 5, 2) and tracked.every == 2
    # The full conditionals follow sweeps 2 and 4 (indices 1, 3): a range of sweeps picks those inside it.
    later = mcmc.pixel_estimates(tracked, start=2).rao_blackwell
    torch.testing.assert_close(later, tracked.full_conditionals[1].mean(0))
    assert mcmc.pixel_estimates(tracked, start=2, stop=3).rao_blackwell is None


def test_top_half_chains_reach_the_exact_posterior_from_both_starts(tiny):
    model, reverse, everything, log_p, image = tiny
    _, candidates, exact = exact_posteriors(everything, log_p, image)
    q = inf.pixel_log_probs(reverse, inf.rotate(candidates))[:, HEIGHT * WIDTH - HALF:].sum(1).double().exp()
    assert diagnostics.total_variation(q, exact) > 0.3  # the reverse model alone is far off: the chains must correct it
    flat = everything.view(len(everything), -1)
    prior = torch.stack([log_p[(flat[:, :HALF] == c.view(-1)[:HALF]).all(1)].logsumexp(0) for c in candidates])
    assert diagnostics.total_variation(prior.exp(), exact) > 0.4  # so must chains that accepted every prior proposal
    found = []
    for seed, start in ((0, "reverse"), (1, "prior")):
        generator = torch.Generator().manual_seed(seed)
        x0 = (est.sample_before(reverse, image, HALF, 32, generator) if start == "reverse"
              else est.prior_starts(model, image, HALF, 32, generator))
        chains = mcmc.metropolis_within_gibbs(model, x0, range(HALF), 400, generator)
        assert (chains.samples.view(-1, HEIGHT * WIDTH)[:, HALF:] == image.view(1, -1)[:, HALF:]).all()
        found.append(inf.state_frequencies(chains.samples[40:], candidates, HALF, 2))
        assert diagnostics.total_variation(found[-1], exact) < 0.1
    assert diagnostics.total_variation(*found) < 0.15


def test_middle_pixel_given_later_pixels_three_estimators_agree_with_enumeration(tiny):
    model, reverse, everything, log_p, image = tiny
    exact, _, _ = exact_posteriors(everything, log_p, image)
    marginal = torch.stack([log_p[everything.view(len(everything), -1)[:, M] == v].logsumexp(0) for v in range(2)])
    assert diagnostics.total_variation(marginal.exp(), exact) > 0.04  # the later pixels do inform the middle one
    generator = torch.Generator().manual_seed(0)
    runs = [mcmc.metropolis_within_gibbs(model, x0, range(M + 1), 200, generator, pixel=M, rao_blackwell_every=1)
            for x0 in (est.sample_before(reverse, image, M + 1, 32, generator),
                       est.prior_starts(model, image, M + 1, 32, generator))]
    for chains in runs:
        e = mcmc.pixel_estimates(chains, start=20)
        assert diagnostics.total_variation(e.counting, exact) < 0.03
        assert diagnostics.total_variation(e.recycled, exact) < 0.03
        assert diagnostics.total_variation(e.rao_blackwell, exact) < 0.01
    agree = mcmc.agreement(*runs, burn_in=20)
    assert agree.pixel_tv < 0.01 and agree.log_p_rhat < 1.05 and min(agree.acceptance) > 0.2


def test_split_rhat_separates_agreeing_from_disagreeing_chains():
    noise = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    assert diagnostics.split_rhat(noise) < 1.02
    assert diagnostics.split_rhat(noise + torch.arange(8)) > 1.5  # chains stuck at different levels
    assert diagnostics.split_rhat(noise + torch.linspace(0, 5, 400).unsqueeze(1)) > 1.2  # a trend: not yet stationary


def test_tiny_check_returns_errors_per_image_and_budget():
    out = TinyCheck(inputs={}, **tiny_check(seed=0, budgets=(256, 1024), size=(3, 4), n_images=2, chains=4,
                                            reverse_steps=2, fit_images=256))
    assert out.images.shape == (2, 1, 3, 4) and out.exact_d.shape == (2, 2) and out.reverse_kl_bits > 0
    for name in ("d_is_prior", "d_is_reverse", "d_mcmc_counting", "d_mcmc_recycled", "d_mcmc_rao_blackwell",
                 "d_mcmc_prior_start", "g_sir_prior", "g_is_reverse", "g_mcmc", "g_mcmc_prior_start"):
        errors = getattr(out, name)
        assert errors.shape == (2, 2) and ((errors >= 0) & (errors <= 1)).all(), name
    assert out.d_reverse.shape == out.acceptance_g.shape == out.agreement_d.shape == (2,)
    with pytest.raises(ValueError, match="budgets"):
        tiny_check(budgets=(8,), size=(3, 4))


def test_exact_posterior_enumerates_only_the_unknown_pixels(tiny):
    model, _, everything, log_p, image = tiny
    d, candidates, exact = exact_posteriors(everything, log_p, image)
    found, p = inf.exact_posterior(model, image, HALF)
    assert torch.equal(found, candidates) and found.shape == (2**HALF, 1, HEIGHT, WIDTH)
    torch.testing.assert_close(p, exact, atol=1e-9, rtol=1e-5)
    found, p = inf.exact_posterior(model, image, M + 1)
    torch.testing.assert_close(torch.zeros(2, dtype=torch.float64).index_add_(0, found.view(len(p), -1)[:, M], p), d,
                               atol=1e-9, rtol=1e-5)


def test_state_frequencies_count_each_candidate_prefix():
    generator = torch.Generator().manual_seed(0)
    candidates = inf.all_images(2, (2, 2))[torch.randperm(16, generator=generator)[:10]]  # some states, shuffled
    samples = torch.randint(0, 2, (500, 1, 2, 2), generator=generator)
    brute = torch.stack([(samples.view(500, -1) == c.view(-1)).all(1).double().mean() for c in candidates])
    torch.testing.assert_close(inf.state_frequencies(samples, candidates, 4, 2), brute)
    weights = torch.rand(500, generator=generator, dtype=torch.float64)
    first_two = inf.state_frequencies(samples, candidates[:1], 2, 2, weights)  # only the first 2 pixels compared
    torch.testing.assert_close(first_two, weights[(samples.view(500, -1)[:, :2] == candidates[0].view(-1)[:2]).all(1)]
                               .sum().view(1))


def test_a_resumed_run_is_the_run_that_was_not_interrupted(tiny, tmp_path):
    model, _, everything, _, image = tiny
    starts = image.repeat(3, 1, 1, 1)
    whole, _ = mcmc.run_resumable(model, starts, list(range(M + 1)), 4, 2, torch.Generator().manual_seed(3),
                                  tmp_path / "a.pt", pixel=M)
    # Killed after its first chunk: what is on disk then is what a run of 2 sweeps leaves.
    mcmc.run_resumable(model, starts, list(range(M + 1)), 2, 2, torch.Generator().manual_seed(3), tmp_path / "b.pt",
                       pixel=M)
    resumed, _ = mcmc.run_resumable(model, starts, list(range(M + 1)), 4, 2, torch.Generator().manual_seed(99),
                                    tmp_path / "b.pt", pixel=M)
    for name in ("samples", "acceptance", "log_p", "values", "recycled", "full_conditionals"):
        assert torch.equal(getattr(whole, name), getattr(resumed, name)), name
    assert whole.passes == resumed.passes and whole.full_conditionals.shape[0] == 2 and whole.every == 2
    with pytest.raises(ValueError, match="multiple"):
        mcmc.run_resumable(model, starts, [0], 3, 2, torch.Generator(), tmp_path / "c.pt")


def test_the_evidence_estimates_average_to_the_exact_probability_of_the_given_pixels(tiny):
    """log_evidence: log of the mean unnormalised weight; its exponential is unbiased for p(given pixels)."""
    model, reverse, everything, log_p, image = tiny
    flat, given = everything.view(len(everything), -1), image.reshape(-1)
    exact_after = log_p[(flat[:, M + 1:] == given[M + 1:]).all(1)].logsumexp(0).exp()
    exact_bottom = log_p[(flat[:, HALF:] == given[HALF:]).all(1)].logsumexp(0).exp()
    generator = torch.Generator().manual_seed(0)
    prior = [est.conditional_on_later_pixels(model, image, M, 32, generator).log_evidence.exp() for _ in range(20)]
    by_reverse = [est.reverse_proposals(model, reverse, image, M + 1, 512, generator).log_evidence.exp()
                  for _ in range(20)]
    proposals = pixelcnn.sample(model, 4096, stop=HALF, size=(HEIGHT, WIDTH), generator=generator)
    sir = est.complete_given_later(model, image, proposals, HALF, 1, generator).log_evidence.exp()
    for estimates in (prior, by_reverse):  # within 3 standard errors of the mean
        estimates = torch.stack(estimates)
        assert abs(estimates.mean() - exact_after) < 3 * estimates.std() / len(estimates) ** 0.5 + 1e-12
    assert sir.item() == pytest.approx(exact_bottom.item(), rel=0.1)
