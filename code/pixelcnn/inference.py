"""Exact quantities of a PixelCNN: log-likelihoods, dependency maps, enumeration of tiny image spaces."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from .models import PixelCNNBase, check_images


def log_prob(model: PixelCNNBase, x: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats for each image [B]: the sum over pixels of log p(x_i | x_<i)."""
    with torch.no_grad():
        logits = model(x).float()
    return -F.cross_entropy(logits, x.long(), reduction="none").flatten(1).sum(1)


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


def nats_to_bits_per_dim(nats: torch.Tensor, pixels: int) -> torch.Tensor:
    return -nats / (pixels * math.log(2))


# --- Q3: marginals and conditionals at one pixel, and conditional samples --------------------------


def conditional(model: PixelCNNBase, x: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """p(x_pixel | the pixels before it) for each image: [B, levels]. Exact, one pass."""
    with torch.no_grad():
        return torch.softmax(model(x)[:, :, 0, pixel[0], pixel[1]].double(), dim=1)


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
        with torch.no_grad():
            logits = model(candidates).float()
        per_pixel = -F.cross_entropy(logits, candidates, reduction="none").flatten(1)  # [levels, D]
        joint[k] = per_pixel[:, i:].sum(1).double()
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
    with torch.no_grad():
        logits = model(candidates).float()
    per_pixel = -F.cross_entropy(logits, candidates, reduction="none").flatten(1)
    log_weights = per_pixel[:, half:].sum(1).double()
    weights = torch.softmax(log_weights, dim=0)
    chosen = torch.multinomial(weights, n, replacement=True, generator=generator)
    return {"samples": candidates[chosen], "ess": 1.0 / (weights**2).sum(), "weights": weights}
