"""Block moves for (d) and (g), checked against enumeration on tiny models where single-site chains fail."""

from __future__ import annotations

import pytest
import torch

import pixelcnn
from pixelcnn.core import blocks, diagnostics, mcmc
from pixelcnn.core import estimators as est
from pixelcnn.core import inference as inf
from pixelcnn.core.sampling import sample
from pixelcnn.q3.tiny_mcmc import TINY_BLOCKS, tiny_block_passes, tiny_block_schedule
from pixelcnn.q3.validation import fit_to_distribution, tiny_model

HEIGHT, WIDTH = 4, 3
HALF, M = 6, 7  # the top half's size and the middle pixel (2, 1), as raster indices
MOVES = [("forward", 0, 1), ("forward", 3, 6), ("forward", 0, 6), ("reverse", 3, 6), ("reverse", 0, 6),
         ("reverse", 2, 5)]


def fitted_reverse(model, levels: int, seed: int) -> pixelcnn.core.models.PixelCNNBase:
    """A mismatched reverse-order model: 60 Adam steps on 2048 of the forward model's samples."""
    generator = torch.Generator().manual_seed(seed)
    data = inf.rotate(sample(model, 2048, size=(HEIGHT, WIDTH), generator=generator))
    torch.manual_seed(seed)
    return fit_to_distribution(pixelcnn.build("simple", levels=levels, channels=8, layers=2, first_kernel_size=3),
                                   data, torch.full((2048,), 1 / 2048), steps=60)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest)


@pytest.fixture(scope="module")
def spread():
    """A binary model with a spread-out posterior (moves change many states), and an unusual bottom half."""
    model = tiny_model(1, sharpness=4.0)
    image = inf.all_images(2, (HEIGHT, WIDTH))[45:46]
    return model, fitted_reverse(model, 2, 0), image


@pytest.fixture(scope="module")
def sharp():
    """A 3-level model with its weights scaled by 16, and an image whose posteriors single-site chains miss."""
    model = tiny_model(3, levels=TINY_BLOCKS["levels"], sharpness=TINY_BLOCKS["sharpness"])
    image = inf.all_images(3, (HEIGHT, WIDTH))[424615:424616]  # 210 120 110 111
    return model, fitted_reverse(model, 3, 1), image


def test_the_acceptance_ratio_is_the_metropolis_hastings_ratio_of_the_whole_images(spread):
    model, reverse, _ = spread
    x = torch.randint(0, 2, (64, 1, HEIGHT, WIDTH), generator=torch.Generator().manual_seed(0))
    log_cond = mcmc.log_conditionals(model, x)
    for proposal, a, b in MOVES:
        generator = torch.Generator().manual_seed(1)
        step = blocks.block_update(model, reverse, x, log_cond, (a, b), proposal, generator)
        # replay the proposal with the same random numbers
        generator = torch.Generator().manual_seed(1)
        if proposal == "forward" and b - a == 1:
            proposed = x.clone()
            proposed.view(64, -1)[:, a] = mcmc.update(model, x, log_cond, a, generator).proposed
        else:
            drawn = (sample(model, images=x, start=a, stop=b, generator=generator) if proposal == "forward" else
                     inf.rotate(sample(reverse, images=inf.rotate(x), start=12 - b, stop=12 - a, generator=generator)))
            proposed = x.clone()
            proposed.view(64, -1)[:, a:b] = drawn.view(64, -1)[:, a:b]
        # Brute force: log p(x') - log p(x) + log q(x_B | .) - log q(x'_B | .), q the proposal's own density.
        if proposal == "forward":
            q = [inf.pixel_log_probs(model, y)[:, a:b].sum(1) for y in (x, proposed)]
        else:
            q = [inf.pixel_log_probs(reverse, inf.rotate(y))[:, 12 - b:12 - a].sum(1) for y in (x, proposed)]
        brute = inf.log_prob(model, proposed) - inf.log_prob(model, x) + q[0] - q[1]
        torch.testing.assert_close(step.log_ratio, brute.double(), atol=1e-4, rtol=0)
        assert 0 < step.accepted.sum() < 64
        assert torch.equal(step.x, torch.where(step.accepted.view(64, 1, 1, 1), proposed, x))
        outside = [j for j in range(12) if not a <= j < b]
        assert torch.equal(step.x.view(64, -1)[:, outside], x.view(64, -1)[:, outside])
        changed = (step.x.view(64, -1)[:, a:b] != x.view(64, -1)[:, a:b]).double().mean(1)
        torch.testing.assert_close(step.changed, changed)
        torch.testing.assert_close(step.log_cond, mcmc.log_conditionals(model, step.x))


def test_each_move_keeps_exact_posterior_draws_exact(spread):
    """40,000 exact draws of the top-half posterior, one move applied: the same distribution (up to sampling
    noise, about 0.01 here), while a move that accepted its proposals blindly would be far off."""
    model, reverse, image = spread
    candidates, exact = inf.exact_posterior(model, image, HALF)
    generator = torch.Generator().manual_seed(0)
    x = candidates[torch.multinomial(exact, 40_000, replacement=True, generator=generator)]
    log_cond = mcmc.log_conditionals(model, x)
    before = diagnostics.total_variation(inf.state_frequencies(x, candidates, HALF, 2), exact)
    assert before < 0.02
    for proposal, a, b in MOVES:
        step = blocks.block_update(model, reverse, x, log_cond, (a, b), proposal, generator)
        moved = (step.x.view(len(x), -1) != x.view(len(x), -1)).any(1).double().mean()
        after = diagnostics.total_variation(inf.state_frequencies(step.x, candidates, HALF, 2), exact)
        assert moved > 0.1 and after < 0.025, (proposal, a, b, float(moved), float(after))
    q = inf.pixel_log_probs(reverse, inf.rotate(candidates))[:, HEIGHT * WIDTH - HALF:].sum(1).double().exp()
    assert diagnostics.total_variation(q / q.sum(), exact) > 0.15  # the reverse model alone is off; the ratio fixes it


def dispersed_starts(model, reverse, image, known_from: int, n: int, generator) -> torch.Tensor:
    """A third of the chains at one fixed state (unknown pixels 0), a third from the forward model's prior,
    a third from the reverse model's completions."""
    fixed = image.repeat(n // 3, 1, 1, 1).clone()
    fixed.view(n // 3, -1)[:, :known_from] = 0
    return torch.cat([fixed, est.prior_starts(model, image, known_from, n // 3, generator),
                      est.sample_before(reverse, image, known_from, n - 2 * (n // 3), generator)])


@pytest.mark.parametrize("question", ["d", "g"])
def test_block_moves_reach_the_exact_answer_where_single_site_chains_stay_stuck(sharp, question):
    """Single-site chains from one start: more than 0.5 off after 200 sweeps of k passes (k unknown pixels:
    8 for (d), 6 for (g); 1,600 or 1,200 passes per chain). Block moves from dispersed starts: within 0.02
    after 60 sweeps of k/3 + 2 + k forward and k/3 + 1 reverse passes (17 or 13; 1,020 or 780 passes per
    chain), the first quarter discarded."""
    chains, sweeps = TINY_BLOCKS["chains"], TINY_BLOCKS["sweeps"]
    model, reverse, image = sharp
    known_from = M + 1 if question == "d" else HALF
    candidates, exact = inf.exact_posterior(model, image, known_from)
    exact_d = torch.zeros(3, dtype=torch.float64).index_add_(0, candidates.view(len(exact), -1)[:, M], exact)
    generator = torch.Generator().manual_seed(0)

    def error(states: torch.Tensor) -> float:
        """TV to the exact answer: (d) the middle pixel's distribution, (g) the top half's."""
        if question == "g":
            return float(diagnostics.total_variation(inf.state_frequencies(states, candidates, HALF, 3), exact))
        values = states.reshape(-1, HEIGHT * WIDTH)[:, M]
        return float(diagnostics.total_variation(torch.bincount(values, minlength=3).double() / len(values), exact_d))

    # Single-site chains from one fixed start: 200 sweeps (a pass per pixel each), the second half kept.
    fixed = image.repeat(chains, 1, 1, 1).clone()
    fixed.view(chains, -1)[:, :known_from] = 0
    single_sweeps = TINY_BLOCKS["single_sweeps"]
    single = mcmc.metropolis_within_gibbs(model, fixed, range(known_from), single_sweeps, generator)
    assert error(single.samples[single_sweeps // 2:]) > TINY_BLOCKS["single_site_above"]
    # Block moves from dispersed starts: per sweep, every row by reverse proposals, the whole prefix by reverse
    # and by forward proposals (independence moves), and known_from single-site updates.
    starts = dispersed_starts(model, reverse, image, known_from, chains, generator)
    schedule = tiny_block_schedule(known_from, WIDTH)
    run = blocks.chains(model, reverse, starts, known_from, sweeps, generator, schedule=schedule, sites=known_from)
    assert error(run.samples[sweeps // 4:]) < TINY_BLOCKS["blocks_within"]
    forward, reverse_passes, steps = run.passes.sum(0).tolist()
    assert forward + reverse_passes == tiny_block_passes(question)
    # The cost per sweep: a forward pass per move and per single-site update, a reverse pass per reverse move
    assert forward == len(schedule) + known_from and reverse_passes == len(schedule) - 1
    assert steps == sum(b - a for _, a, b in schedule)
    assert run.acceptance.shape == run.changed.shape == (sweeps, len(schedule) + 1, chains)
    assert (run.changed <= run.acceptance + 1e-12).all()  # a pixel changes only when its move is accepted


def test_a_killed_run_resumes_with_the_same_random_numbers(spread, tmp_path):
    model, reverse, image = spread
    starts = image.repeat(4, 1, 1, 1)
    schedule = [("reverse", 0, 3), ("forward", 3, 6)]

    def run(sweeps: int, folder: str, seed: int = 0):
        return blocks.run_resumable(model, reverse, starts, HALF, sweeps, 2, torch.Generator().manual_seed(seed),
                                    tmp_path / folder / "chains.pt", schedule=schedule, sites=2)

    whole = run(6, "whole")
    run(2, "killed")  # stops after its first chunk, as a killed run would have left it
    resumed = run(6, "killed", seed=99)  # the generator's state comes from the checkpoint
    assert torch.equal(whole.samples, resumed.samples) and torch.equal(whole.log_p, resumed.log_p)
    assert whole.samples.shape[0] == 3 and whole.moves == ["reverse 0-3", "forward 3-6", "site"]


def test_rank_normalised_split_rhat():
    generator = torch.Generator().manual_seed(0)
    iid = torch.randn(2000, 8, generator=generator)
    assert abs(diagnostics.rank_rhat(iid) - 1) < 0.01
    shifted = iid + torch.arange(8) * 0.5  # chains that sample different places
    assert diagnostics.rank_rhat(shifted) > 1.1
    scaled = iid * torch.tensor([1.0, 1, 1, 1, 3, 3, 3, 3])  # the same centre, different spreads
    assert diagnostics.split_rhat(scaled) < 1.01 < diagnostics.rank_rhat(scaled)  # the folded (tail) R-hat sees it
    trend = torch.linspace(0, 3, 2000).unsqueeze(1) + iid  # every chain drifting: the split halves disagree
    assert diagnostics.rank_rhat(trend) > 1.1
    heavy = torch.distributions.Cauchy(0.0, 1.0).sample((2000, 8))  # ranks make it work without moments
    assert diagnostics.rank_rhat(heavy) < 1.01
