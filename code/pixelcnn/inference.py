"""Exact quantities of a PixelCNN: log-likelihoods, dependency maps, enumeration of tiny image spaces."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from .models import PixelCNNBase, check_images


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


# Model passes run on the model's device; their inputs and results stay where the caller's images are.


def pixel_log_probs(model: PixelCNNBase, x: torch.Tensor) -> torch.Tensor:
    """log p(x_i | x_<i) in nats for every pixel of each image, in raster order: [B, H*W]."""
    xd = x.to(device_of(model))
    with torch.no_grad():
        logits = model(xd).float()
    return -F.cross_entropy(logits, xd.long(), reduction="none").flatten(1).to(x.device)


def log_prob(model: PixelCNNBase, x: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats for each image [B]: the sum over pixels of log p(x_i | x_<i)."""
    return pixel_log_probs(model, x).sum(1)


def dependency_map(model: PixelCNNBase, pixel: tuple[int, int], size: tuple[int, int] = (28, 28),
                   seed: int = 0) -> torch.Tensor:
    """Gradient [H, W] of the logits at ``pixel`` (randomly weighted) with respect to every input pixel.

    Exactly zero where the output cannot depend on the input (masked weights give zero gradient).
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, model.levels, (1, 1, *size), generator=generator)
    xs = model.scale(x).requires_grad_(True)
    was_training = model.training
    model.eval()
    logits = model.forward_scaled(xs)[0, :, 0, pixel[0], pixel[1]]
    weights = torch.randn(logits.shape, generator=generator)
    (grad,) = torch.autograd.grad((logits * weights).sum(), xs)
    model.train(was_training)
    return grad[0, 0]


def all_images(levels: int, height: int, width: int) -> torch.Tensor:
    """Every image of the given size and number of grey levels: long [levels**(H*W), 1, H, W]."""
    count = levels ** (height * width)
    if count > 2**20:
        raise ValueError(f"{levels}^{height * width} = {count} images is too many to enumerate")
    grid = torch.tensor(list(itertools.product(range(levels), repeat=height * width)))
    return grid.view(count, 1, height, width)


def total_probability(model: PixelCNNBase, height: int, width: int, batch_size: int = 4096) -> float:
    """The sum of the model's p(x) over every image: 1 for a true (causal) likelihood."""
    images = all_images(model.levels, height, width)
    check_images(images, model.levels)
    logs = torch.cat([log_prob(model, images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return float(torch.logsumexp(logs.double(), 0).exp())



# --- Q3: marginals and conditionals at one pixel, and conditional samples --------------------------


def conditional(model: PixelCNNBase, x: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """p(x_pixel | the pixels before it) for each image: [B, levels]. Exact, one pass."""
    with torch.no_grad():
        return torch.softmax(model(x.to(device_of(model)))[:, :, 0, pixel[0], pixel[1]].double(), dim=1).to(x.device)


def full_conditional(model: PixelCNNBase, x: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """p(x_pixel | every other pixel) for each image: [B, levels]. Exact, ``levels`` passes per image.

    p(x_i = v | x_-i) is proportional to p(x_1..x_D) with x_i = v; the factors before i do not
    depend on v and cancel.
    """
    out = []
    for image in x:
        candidates = image.repeat(model.levels, 1, 1, 1)
        candidates[:, 0, pixel[0], pixel[1]] = torch.arange(model.levels)
        out.append(torch.softmax(log_prob(model, candidates).double(), dim=0))
    return torch.stack(out)


def raster_index(pixel: tuple[int, int], width: int = 28) -> int:
    return pixel[0] * width + pixel[1]


def marginal_monte_carlo(model: PixelCNNBase, pixel: tuple[int, int], n: int, generator: torch.Generator,
                         size: tuple[int, int] = (28, 28)) -> dict[str, torch.Tensor]:
    """p(x_pixel) by Monte Carlo: the average of p(x_pixel | prefix) over n ancestral prefix samples.

    Averaging the predicted distributions (not counting sampled values) gives an unbiased estimate
    with a much smaller variance. Returns the estimate, its standard error and the per-sample terms.
    """
    from .sampling import sample

    prefixes = sample(model, n, stop=raster_index(pixel, size[1]), size=size, generator=generator)
    terms = conditional(model, prefixes, pixel)
    return {"p": terms.mean(0), "stderr": terms.std(0) / n**0.5, "terms": terms}


def conditional_on_later_pixels(model: PixelCNNBase, x: torch.Tensor, pixel: tuple[int, int], n: int,
                                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """p(x_pixel | every pixel after it) for one image [1, 1, H, W], by importance sampling.

    The unknown earlier pixels are drawn from the model itself (ancestral prefixes x_<i ~ p), so for
    each value v: p(v | x_>i) is proportional to E[ p(v | x_<i) p(x_>i | x_<i, v) ]. Each prefix's
    weight is its likelihood of the given later pixels; the effective sample size measures how many
    prefixes really count.
    """
    from .sampling import sample

    i = raster_index(pixel, x.shape[-1])
    prefixes = sample(model, n, stop=i, size=tuple(x.shape[-2:]), generator=generator)
    joint = torch.empty(n, model.levels, dtype=torch.float64)  # log p(v, x_>i | prefix)
    for k, prefix in enumerate(prefixes):
        candidates = x.repeat(model.levels, 1, 1, 1)
        candidates.view(model.levels, -1)[:, :i] = prefix.view(-1)[:i]
        candidates[:, 0, pixel[0], pixel[1]] = torch.arange(model.levels)
        joint[k] = pixel_log_probs(model, candidates)[:, i:].sum(1).double()  # [levels]
    log_weights = torch.logsumexp(joint, dim=1)  # log p(x_>=i given) ... summed over v: prefix weight
    weights = torch.softmax(log_weights, dim=0)
    posterior = torch.softmax(torch.logsumexp(joint, dim=0), dim=0)
    ess = 1.0 / (weights**2).sum()
    return {"p": posterior, "ess": ess, "weights": weights}


def complete_top_half_sir(model: PixelCNNBase, bottom: torch.Tensor, proposals: torch.Tensor, n: int,
                          generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Samples of the top half given the bottom half, by sampling-importance-resampling.

    ``proposals`` are model samples of the top half (long [K, 1, H, W], bottom ignored). Each is
    weighted by the likelihood the model gives the *given* bottom half after it, p(bottom | top);
    n of them are drawn in proportion to the weights.
    """
    height, width = bottom.shape[-2:]
    half = (height // 2) * width
    candidates = bottom.repeat(len(proposals), 1, 1, 1)
    candidates.view(len(proposals), -1)[:, :half] = proposals.view(len(proposals), -1)[:, :half]
    log_weights = pixel_log_probs(model, candidates)[:, half:].sum(1).double()
    weights = torch.softmax(log_weights, dim=0)
    return {"samples": resample(candidates, weights, n, generator), "ess": 1.0 / (weights**2).sum(),
            "weights": weights}


def gibbs(model: PixelCNNBase, x: torch.Tensor, unknown: list[int], sweeps: int,
          generator: torch.Generator) -> torch.Tensor:
    """A Gibbs chain over the ``unknown`` raster pixels of one image [1, 1, H, W], the others fixed.

    Each update draws a pixel from its exact full conditional (as in (e): ``levels`` passes), so a
    sweep costs ``levels * len(unknown)`` passes. Starts from the given values; returns the state
    after every sweep: long [sweeps, 1, H, W].
    """
    state, width, states = x.clone().long(), x.shape[-1], []
    for _ in range(sweeps):
        for index in unknown:
            pixel = divmod(index, width)
            p = full_conditional(model, state, pixel)[0]
            state[0, 0, pixel[0], pixel[1]] = torch.multinomial(p, 1, generator=generator)[0]
        states.append(state.clone())
    return torch.cat(states)


# --- Q3 with a reverse-order model: a PixelCNN of the images rotated by 180 degrees -----------------
# Its raster order runs from the bottom-right pixel up, so "given every pixel from index k on" is
# an ordinary prefix for it: conditionals are one pass and samples are exact ancestral sampling.


def rotate(x: torch.Tensor) -> torch.Tensor:
    """Images rotated by 180 degrees (raster index i becomes H*W - 1 - i); its own inverse."""
    return x.flip(-2, -1)


def reverse_conditional(reverse_model: PixelCNNBase, x: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """The reverse model's p(x_pixel | every pixel after it) for each image: [B, levels], one pass."""
    height, width = x.shape[-2:]
    return conditional(reverse_model, rotate(x), (height - 1 - pixel[0], width - 1 - pixel[1]))


def sample_before(reverse_model: PixelCNNBase, x: torch.Tensor, known_from: int, n: int,
                  generator: torch.Generator, progress: bool = False) -> torch.Tensor:
    """n completions of one image [1, 1, H, W]: pixels before raster index ``known_from`` drawn by the
    reverse model given the pixels from ``known_from`` on (exact ancestral sampling of that model)."""
    from .sampling import sample

    height, width = x.shape[-2:]
    rotated = sample(reverse_model, images=rotate(x).repeat(n, 1, 1, 1), start=height * width - known_from,
                     generator=generator, progress=progress)
    return rotate(rotated)


def reverse_proposals(model: PixelCNNBase, reverse_model: PixelCNNBase, x: torch.Tensor, known_from: int,
                      n: int, generator: torch.Generator, progress: bool = False) -> dict[str, torch.Tensor]:
    """Importance sampling of the forward model's p(x_<k | x_>=k) with the reverse model as proposal.

    Proposals are the reverse model's completions (``sample_before``); each weight is
    p(completed image) / q(sampled pixels | given pixels), both one pass, self-normalised. The
    weighted samples are consistent for the *forward* model's posterior, and the proposal is
    already close to it, so far fewer samples are wasted than with the model's own prior prefixes.
    """
    samples = sample_before(reverse_model, x, known_from, n, generator, progress)
    height, width = x.shape[-2:]
    log_q = pixel_log_probs(reverse_model, rotate(samples))[:, height * width - known_from:].sum(1)
    log_w = (log_prob(model, samples) - log_q).double()
    weights = torch.softmax(log_w, dim=0)
    return {"samples": samples, "weights": weights, "ess": 1.0 / (weights**2).sum()}


def weighted_pixel_distribution(samples: torch.Tensor, weights: torch.Tensor, pixel: tuple[int, int],
                                levels: int) -> torch.Tensor:
    """The distribution of one pixel's value over weighted samples: [levels]."""
    values = samples[:, 0, pixel[0], pixel[1]].long()
    return torch.zeros(levels, dtype=torch.float64).index_add_(0, values, weights.double())


def resample(samples: torch.Tensor, weights: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n of the samples drawn in proportion to their weights (the R of SIR)."""
    return samples[torch.multinomial(weights, n, replacement=True, generator=generator)]


# --- Ground truth on tiny images: every quantity by brute-force enumeration ------------------------


def exact_pixel_distribution(model: PixelCNNBase, image: torch.Tensor, index: int, given: str) -> torch.Tensor:
    """The exact distribution of raster pixel ``index`` of a tiny ``image`` [1, 1, H, W] by enumeration.

    ``given`` is "nothing" (the marginal), "before", "after" or "others": which of the image's
    pixels are conditioned on.
    """
    height, width = image.shape[-2:]
    images = all_images(model.levels, height, width)
    p = torch.cat([log_prob(model, images[i:i + 4096]) for i in range(0, len(images), 4096)]).double().exp()
    flat, target = images.view(len(images), -1), image.reshape(-1)
    positions = {"nothing": [], "before": list(range(index)), "after": list(range(index + 1, height * width)),
                 "others": [j for j in range(height * width) if j != index]}[given]
    keep = (flat[:, positions] == target[positions]).all(1) if positions else torch.ones(len(flat), dtype=torch.bool)
    out = torch.stack([p[keep & (flat[:, index] == v)].sum() for v in range(model.levels)])
    return out / out.sum()


def exact_top_half_posterior(model: PixelCNNBase, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image with the tiny ``image``'s bottom half [K, 1, H, W], and the exact probability of
    its top half given that bottom half [K]."""
    height, width = image.shape[-2:]
    half = (height // 2) * width
    images = all_images(model.levels, height, width)
    flat = images.view(len(images), -1)
    keep = (flat[:, half:] == image.reshape(-1)[half:]).all(1)
    candidates = images[keep]
    return candidates, torch.softmax(log_prob(model, candidates).double(), 0)


def fit_to_distribution(model: PixelCNNBase, images: torch.Tensor, probs: torch.Tensor, steps: int = 500,
                        lr: float = 2e-2) -> PixelCNNBase:
    """Fit ``model`` to an exact distribution over enumerated tiny ``images`` (cross-entropy, Adam).

    Used to make the reverse-order model of a tiny forward model: ``images`` rotated, ``probs`` the
    forward model's exact probabilities.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(images).float()
        nll = F.cross_entropy(logits, images.long(), reduction="none").flatten(1).sum(1)
        (probs.float() * nll).sum().backward()
        optimizer.step()
    return model.eval()


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total-variation distance between distributions over the last dimension."""
    return 0.5 * (p.double() - q.double()).abs().sum(-1)


def _frequencies(drawn: torch.Tensor, tops: torch.Tensor, half: int) -> torch.Tensor:
    drawn = drawn.reshape(len(drawn), -1)[:, :half]
    return torch.stack([(drawn == t).all(1).double().mean() for t in tops])


def convergence(model: PixelCNNBase, reverse_model: PixelCNNBase, images: torch.Tensor, budgets: list[int],
                repeats: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Error of each Q3 approximation against enumeration on tiny images, as the budget grows.

    Total-variation distance between estimate and exact answer, averaged over images and repeats,
    per budget n: (b) Monte Carlo marginal of the middle pixel; (d) importance sampling of the
    middle pixel given the later pixels with n prior prefixes (``d``) or n reverse-model proposals
    (``d_reverse_is``); (g) the top half given the bottom by SIR with n prior proposals (``g``) or n
    reverse-model proposals (``g_reverse_is``), 4n draws each, or by n Gibbs sweeps (``g_gibbs``).
    ``d_reverse`` and ``g_reverse`` are the reverse model's own answers (no sampling: one error each).
    """
    from .sampling import sample

    height, width = images.shape[-2:]
    pixel = (height // 2, width // 2)
    index, half, size = raster_index(pixel, width), (height // 2) * width, height * width
    generator, tv = torch.Generator().manual_seed(seed), total_variation
    exact_b = exact_pixel_distribution(model, images[:1], index, "nothing")
    cases = []
    for image in images:
        image = image.unsqueeze(0)
        candidates, p = exact_top_half_posterior(model, image)
        tops = candidates.view(len(candidates), -1)[:, :half]
        q = pixel_log_probs(reverse_model, rotate(candidates))[:, size - half:].sum(1).double().exp()
        cases.append({"image": image, "d": exact_pixel_distribution(model, image, index, "after"),
                      "tops": tops, "p": p, "q": q})
    fixed = {"d_reverse": torch.stack([tv(reverse_conditional(reverse_model, c["image"], pixel)[0], c["d"])
                                       for c in cases]).mean(),
             "g_reverse": torch.stack([tv(c["q"], c["p"]) for c in cases]).mean()}
    names = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")
    errors: dict[str, list] = {name: [] for name in names}
    for n in budgets:
        found: dict[str, list] = {name: [] for name in names}
        for _ in range(repeats):
            found["b"].append(tv(marginal_monte_carlo(model, pixel, n, generator, (height, width))["p"], exact_b))
            for c in cases:
                image = c["image"]
                found["d"].append(tv(conditional_on_later_pixels(model, image, pixel, n, generator)["p"], c["d"]))
                r = reverse_proposals(model, reverse_model, image, index + 1, n, generator)
                found["d_reverse_is"].append(
                    tv(weighted_pixel_distribution(r["samples"], r["weights"], pixel, model.levels), c["d"]))
                proposals = sample(model, n, stop=half, size=(height, width), generator=generator)
                drawn = complete_top_half_sir(model, image, proposals, 4 * n, generator)["samples"]
                found["g"].append(tv(_frequencies(drawn, c["tops"], half), c["p"]))
                r = reverse_proposals(model, reverse_model, image, half, n, generator)
                drawn = resample(r["samples"], r["weights"], 4 * n, generator)
                found["g_reverse_is"].append(tv(_frequencies(drawn, c["tops"], half), c["p"]))
                start = image.clone()
                start.view(-1)[:half] = proposals[0].view(-1)[:half]
                chain = gibbs(model, start, list(range(half)), n, generator)
                found["g_gibbs"].append(tv(_frequencies(chain, c["tops"], half), c["p"]))
        for name in names:
            errors[name].append(torch.stack(found[name]).double().mean())
    return {"budgets": torch.tensor(budgets), **{k: torch.stack(v) for k, v in errors.items()}, **fixed}
