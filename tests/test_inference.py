"""Q2/Q3 quantities checked against brute-force enumeration on a tiny model (3x3 images, 2 levels)."""

from __future__ import annotations

import pytest
import torch

import pixelcnn
from pixelcnn.core import diagnostics
from pixelcnn.core import estimators as est
from pixelcnn.core import inference as inf

INDEX = 4  # the raster index of the middle pixel of a 3x3 image


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = pixelcnn.build("simple", levels=2, channels=8, layers=2, first_kernel_size=3).eval()
    images = inf.all_images(2, (3, 3))
    p = inf.log_prob(model, images).double().exp()
    return model, images.view(len(images), -1), p


def exact(p, images, keep):
    """Distribution of the middle pixel among the images selected by ``keep``."""
    out = torch.stack([p[keep & (images[:, INDEX] == v)].sum() for v in range(2)])
    return out / out.sum()


def test_causal_probabilities_sum_to_one_and_noncausal_do_not(tiny):
    model, _, p = tiny
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert inf.total_probability(model, (3, 3)) == pytest.approx(1.0, abs=1e-5)
    noncausal = pixelcnn.build("noncausal", levels=2, channels=8, layers=2, first_kernel_size=3)
    with torch.no_grad():
        noncausal.horizontal_in.conv.weight.mul_(20)  # lean on its own pixel, as training makes it do
    assert abs(inf.total_probability(noncausal, (3, 3)) - 1) > 1e-3


def test_exact_conditionals_match_enumeration(tiny):
    model, images, p = tiny
    for k in (0, 100, 300, 511):
        x = images[k].view(1, 1, 3, 3)
        before = (images[:, :INDEX] == images[k, :INDEX]).all(1)
        others = (images[:, [j for j in range(9) if j != INDEX]] == images[k, [j for j in range(9) if j != INDEX]])
        torch.testing.assert_close(inf.conditional(model, x, INDEX)[0], exact(p, images, before), atol=1e-5, rtol=0)
        torch.testing.assert_close(inf.full_conditional(model, x, INDEX)[0], exact(p, images, others.all(1)),
                                   atol=1e-5, rtol=0)
    first = torch.stack([p[images[:, 0] == v].sum() for v in range(2)])
    torch.testing.assert_close(inf.conditional(model, images[:1].view(1, 1, 3, 3), 0)[0], first, atol=1e-5,
                               rtol=0)


def test_marginal_monte_carlo_converges(tiny):
    model, images, p = tiny
    truth = exact(p, images, torch.ones(len(images), dtype=torch.bool))
    errors = []
    for n in (16, 256, 4096):
        mc = est.marginal_monte_carlo(model, INDEX, n, torch.Generator().manual_seed(n), size=(3, 3))
        errors.append((mc.p - truth).abs().max().item())
        assert errors[-1] < 5 * mc.stderr.max().item() + 1e-9
    assert errors[-1] < 0.01 and errors[-1] < errors[0]


def test_conditional_on_later_pixels_converges(tiny):
    model, images, p = tiny
    k = 100
    after = (images[:, INDEX + 1:] == images[k, INDEX + 1:]).all(1)
    truth = exact(p, images, after)
    w = est.conditional_on_later_pixels(model, images[k].view(1, 1, 3, 3), INDEX, 2000,
                                        torch.Generator().manual_seed(0))
    assert (w.p - truth).abs().max() < 0.02
    assert 1 <= w.ess <= 2000


def test_top_half_sir_matches_the_exact_posterior(tiny):
    model, images, p = tiny
    k, top = 300, 3  # 3x3: the "top half" is the first row
    bottom = images[k].view(1, 1, 3, 3)
    same_bottom = (images[:, top:] == images[k, top:]).all(1)
    posterior = p * same_bottom
    posterior = posterior / posterior.sum()
    proposals = pixelcnn.sample(model, 8000, size=(3, 3), generator=torch.Generator().manual_seed(0))
    out = est.complete_given_later(model, bottom, proposals, top, 8000, torch.Generator().manual_seed(1))
    codes = (out.samples.view(8000, -1)[:, :top] * torch.tensor([4, 2, 1])).sum(1)
    freq = torch.bincount(codes, minlength=8).double() / 8000
    truth = torch.zeros(8, dtype=torch.float64)
    for code in range(8):
        truth[code] = posterior[((images[:, :top] * torch.tensor([4, 2, 1])).sum(1) == code)].sum()
    assert (freq - truth).abs().max() < 0.03
    assert (out.samples.view(8000, -1)[:, top:] == images[k, top:]).all()  # the given half is kept


@pytest.fixture(scope="module")
def reverse():
    """A reverse-order model that is *not* fitted: a poor proposal that importance weights must correct."""
    torch.manual_seed(1)
    return pixelcnn.build("simple", levels=2, channels=8, layers=2, first_kernel_size=3).eval()


def test_rotation_turns_later_pixels_into_a_prefix(tiny, reverse):
    _, images, _ = tiny
    grid = images.view(-1, 1, 3, 3)
    assert torch.equal(inf.rotate(inf.rotate(grid)), grid)
    # The reverse model's distribution over upright images, q(x) = q_rev(rotate(x)), by enumeration:
    q = inf.log_prob(reverse, inf.rotate(grid)).double().exp()
    assert q.sum().item() == pytest.approx(1.0, abs=1e-5)
    for k in (7, 200, 450):
        after = (images[:, INDEX + 1:] == images[k, INDEX + 1:]).all(1)
        torch.testing.assert_close(inf.reverse_conditional(reverse, grid[k:k + 1], INDEX)[0], exact(q, images, after),
                                   atol=1e-5, rtol=0)


def test_reverse_proposals_correct_a_poor_proposal(tiny, reverse):
    model, images, p = tiny
    k = 100
    truth = exact(p, images, (images[:, INDEX + 1:] == images[k, INDEX + 1:]).all(1))
    x = images[k].view(1, 1, 3, 3)
    out = est.reverse_proposals(model, reverse, x, INDEX + 1, 4000, torch.Generator().manual_seed(0))
    assert (out.samples.view(4000, -1)[:, INDEX + 1:] == images[k, INDEX + 1:]).all()  # given pixels kept
    weighted = est.weighted_pixel_distribution(out.samples, out.weights, INDEX, 2)
    unweighted = est.weighted_pixel_distribution(out.samples, torch.full((4000,), 1 / 4000), INDEX, 2)
    assert diagnostics.total_variation(weighted, truth) < 0.02
    assert diagnostics.total_variation(unweighted, truth) > 0.05  # the proposal alone is wrong ...
    sampled = inf.reverse_conditional(reverse, x, INDEX)[0]
    assert diagnostics.total_variation(unweighted, sampled) < 0.03  # ... as sampled
    assert 1 <= out.ess <= 4000


def test_rao_blackwellised_pixel_averages_the_full_conditionals_of_the_heavy_samples(tiny, reverse):
    model, images, p = tiny
    k = 100
    truth = exact(p, images, (images[:, INDEX + 1:] == images[k, INDEX + 1:]).all(1))
    x = images[k].view(1, 1, 3, 3)
    out = est.reverse_proposals(model, reverse, x, INDEX + 1, 200, torch.Generator().manual_seed(0))
    every = est.rao_blackwellised_pixel(model, out.samples, out.weights, INDEX, dropped=0.0)
    by_hand = out.weights.double() @ inf.full_conditional(model, out.samples, INDEX).double()
    torch.testing.assert_close(every, by_hand)
    torch.testing.assert_close(every.sum(), torch.tensor(1.0, dtype=torch.float64))
    plain = est.weighted_pixel_distribution(out.samples, out.weights, INDEX, 2)
    assert diagnostics.total_variation(every, truth) < diagnostics.total_variation(plain, truth) + 0.01
    # dropping the lightest samples' conditionals leaves their own values: the two differ by at most the weight left
    cut = est.rao_blackwellised_pixel(model, out.samples, out.weights, INDEX, dropped=0.3)
    assert diagnostics.total_variation(cut, every) <= 0.3


def test_gibbs_chain_targets_the_top_half_posterior(tiny):
    model, images, p = tiny
    k, top = 300, 3
    same_bottom = (images[:, top:] == images[k, top:]).all(1)
    chain = est.gibbs(model, images[k].view(1, 1, 3, 3), list(range(top)), 1500, torch.Generator().manual_seed(0))
    assert (chain.view(len(chain), -1)[:, top:] == images[k, top:]).all()
    codes = (chain.view(len(chain), -1)[:, :top] * torch.tensor([4, 2, 1])).sum(1)
    freq = torch.bincount(codes, minlength=8).double() / len(chain)
    truth = torch.zeros(8, dtype=torch.float64)
    for code in range(8):
        truth[code] = (p * same_bottom)[((images[:, :top] * torch.tensor([4, 2, 1])).sum(1) == code)].sum()
    assert diagnostics.total_variation(freq, truth / truth.sum()) < 0.05
