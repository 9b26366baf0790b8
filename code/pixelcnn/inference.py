"""Exact quantities of a PixelCNN: log-likelihoods, dependency maps, enumeration of tiny image spaces."""

from __future__ import annotations

import itertools

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
    """All top halves of a tiny image and their exact probabilities given its bottom half."""
    height, width = image.shape[-2:]
    half = (height // 2) * width
    images = all_images(model.levels, height, width)
    flat = images.view(len(images), -1)
    keep = (flat[:, half:] == image.reshape(-1)[half:]).all(1)
    candidates = images[keep]
    p = torch.softmax(log_prob(model, candidates).double(), 0)
    return candidates.view(len(candidates), -1)[:, :half], p


def convergence(model: PixelCNNBase, images: torch.Tensor, budgets: list[int], repeats: int,
                seed: int = 0) -> dict[str, torch.Tensor]:
    """Error of each Q3 approximation against enumeration on tiny images, as the sample budget grows.

    Returns, per budget, the mean over images and repeats of the total-variation distance between
    the estimate and the exact distribution: (b) Monte Carlo marginal of the middle pixel,
    (d) importance-sampled conditional on the later pixels, (g) SIR samples of the top half.
    """
    from .sampling import sample

    height, width = images.shape[-2:]
    pixel = (height // 2, width // 2)
    index = raster_index(pixel, width)
    half = (height // 2) * width
    generator = torch.Generator().manual_seed(seed)
    exact_b = exact_pixel_distribution(model, images[:1], index, "nothing")
    errors = {"b": [], "d": [], "g": []}
    for n in budgets:
        b, d, g = [], [], []
        for _ in range(repeats):
            estimate = marginal_monte_carlo(model, pixel, n, generator, (height, width))["p"]
            b.append(0.5 * (estimate - exact_b).abs().sum())
            for image in images:
                image = image.unsqueeze(0)
                truth = exact_pixel_distribution(model, image, index, "after")
                est = conditional_on_later_pixels(model, image, pixel, n, generator)["p"]
                d.append(0.5 * (est - truth).abs().sum())
                tops, p = exact_top_half_posterior(model, image)
                proposals = sample(model, n, stop=half, size=(height, width), generator=generator)
                drawn = complete_top_half_sir(model, image, proposals, 4 * n, generator)["samples"]
                drawn = drawn.view(len(drawn), -1)[:, :half]
                freq = torch.stack([(drawn == t).all(1).double().mean() for t in tops])
                g.append(0.5 * (freq - p).abs().sum())
        for name, values in zip("bdg", (b, d, g), strict=True):
            errors[name].append(torch.stack(values).double().mean())
    return {"budgets": torch.tensor(budgets), **{k: torch.stack(v) for k, v in errors.items()}}
