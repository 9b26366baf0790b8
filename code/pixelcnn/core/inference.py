"""What a PixelCNN tells exactly: likelihoods, the conditionals its passes give, the reverse-order model's
one-pass answers, and enumeration of tiny image spaces (the ground truth of every estimator).

One convention throughout: a pixel is its raster index (``index = row * width + col``), an image
size is ``(height, width)``, taken from the images wherever there are images.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from . import rng
from .models import PixelCNNBase, check_images, device_of


def raster_index(pixel: tuple[int, int], width: int) -> int:
    """The raster index of pixel (row, col) in images ``width`` pixels wide."""
    return pixel[0] * width + pixel[1]


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


def dependency_map(model: PixelCNNBase, x: torch.Tensor, index: int, seed: int = 0) -> torch.Tensor:
    """Gradient [H, W] of the logits at pixel ``index`` of image ``x`` [1, 1, H, W] (randomly weighted)
    with respect to every input pixel.

    Exactly zero where the output cannot depend on the input (masked weights give zero gradient).
    """
    generator = rng.generator(seed)
    row, col = divmod(index, x.shape[-1])
    xs = model.scale(x.to(device_of(model))).requires_grad_(True)
    was_training = model.training
    model.eval()
    logits = model.forward_scaled(xs)[0, :, 0, row, col]
    weights = torch.randn(logits.shape, generator=generator, device=generator.device).to(logits.device)
    (grad,) = torch.autograd.grad((logits * weights).sum(), xs)
    model.train(was_training)
    return grad[0, 0].cpu()


def all_images(levels: int, size: tuple[int, int]) -> torch.Tensor:
    """Every image of ``size`` (height, width) and ``levels`` grey levels: long [levels**(H*W), 1, H, W]."""
    height, width = size
    count = levels ** (height * width)
    if count > 2**20:
        raise ValueError(f"{levels}^{height * width} = {count} images is too many to enumerate")
    grid = torch.tensor(list(itertools.product(range(levels), repeat=height * width)))
    return grid.view(count, 1, height, width)


def log_probs(model: PixelCNNBase, images: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """log p(x) in nats of many images (an enumeration), in batches: float64 [N]."""
    return torch.cat([log_prob(model, images[i:i + batch_size]) for i in range(0, len(images), batch_size)]).double()


def total_probability(model: PixelCNNBase, size: tuple[int, int]) -> float:
    """The sum of the model's p(x) over every image of ``size``: 1 for a true (causal) likelihood."""
    images = all_images(model.levels, size)
    check_images(images, model.levels)
    return float(torch.logsumexp(log_probs(model, images), 0).exp())


# --- Conditionals at one pixel -----------------------------------------------------------------------


def conditional(model: PixelCNNBase, x: torch.Tensor, index: int) -> torch.Tensor:
    """p(x_index | the pixels before it) for each image: [B, levels]. Exact, one pass."""
    row, col = divmod(index, x.shape[-1])
    with torch.no_grad():
        logits = model(x.to(device_of(model)))[:, :, 0, row, col]
    return torch.softmax(logits.double(), dim=1).to(x.device)


def full_conditional(model: PixelCNNBase, x: torch.Tensor, index: int) -> torch.Tensor:
    """p(x_index | every other pixel) for each image: [B, levels]. Exact, ``levels`` passes of the batch.

    p(x_i = v | x_-i) is proportional to p(x_1..x_D) with x_i = v; the factors before i do not
    depend on v and cancel.
    """
    logs = torch.empty(len(x), model.levels, dtype=torch.float64)
    for v in range(model.levels):  # one pass of the whole batch per value
        xv = x.clone()
        xv.reshape(len(x), -1)[:, index] = v
        logs[:, v] = pixel_log_probs(model, xv)[:, index:].double().sum(1)
    return torch.softmax(logs, dim=1)


# --- A reverse-order model: a PixelCNN of the images rotated by 180 degrees ---------------------------
# Its raster order runs from the bottom-right pixel up, so "given every pixel from index k on" is
# an ordinary prefix for it: conditionals are one pass (its samples: ``estimators.sample_before``).


def rotate(x: torch.Tensor) -> torch.Tensor:
    """Images rotated by 180 degrees (raster index i becomes H*W - 1 - i); its own inverse."""
    return x.flip(-2, -1)


def reverse_conditional(reverse_model: PixelCNNBase, x: torch.Tensor, index: int) -> torch.Tensor:
    """The reverse model's p(x_index | every pixel after it) for each image: [B, levels], one pass."""
    height, width = x.shape[-2:]
    return conditional(reverse_model, rotate(x), height * width - 1 - index)


# --- Ground truth on tiny images: every quantity by brute-force enumeration ------------------------


def exact_pixel_distribution(model: PixelCNNBase, image: torch.Tensor, index: int, given: str) -> torch.Tensor:
    """The exact distribution of raster pixel ``index`` of a tiny ``image`` [1, 1, H, W] by enumeration.

    ``given`` is "nothing" (the marginal), "before", "after" or "others": which of the image's
    pixels are conditioned on.
    """
    height, width = image.shape[-2:]
    images = all_images(model.levels, (height, width))
    p = log_probs(model, images).exp()
    flat, target = images.view(len(images), -1), image.reshape(-1)
    positions = {"nothing": [], "before": list(range(index)), "after": list(range(index + 1, height * width)),
                 "others": [j for j in range(height * width) if j != index]}[given]
    keep = (flat[:, positions] == target[positions]).all(1) if positions else torch.ones(len(flat), dtype=torch.bool)
    out = torch.stack([p[keep & (flat[:, index] == v)].sum() for v in range(model.levels)])
    return out / out.sum()


def exact_posterior(model: PixelCNNBase, image: torch.Tensor, known_from: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every completion of the pixels before raster index ``known_from`` of one tiny image [1, 1, H, W]
    (long [levels**known_from, 1, H, W], first pixel most significant) and its exact probability given
    the pixels from ``known_from`` on [K], by enumerating only the unknown pixels."""
    prefixes = all_images(model.levels, (1, known_from)).view(-1, known_from)
    candidates = image.repeat(len(prefixes), 1, 1, 1).long()
    candidates.view(len(prefixes), -1)[:, :known_from] = prefixes
    return candidates, torch.softmax(log_probs(model, candidates), 0)


def exact_top_half_posterior(model: PixelCNNBase, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image with the tiny ``image``'s bottom half [K, 1, H, W], and the exact probability of
    its top half given that bottom half [K]."""
    height, width = image.shape[-2:]
    return exact_posterior(model, image, (height // 2) * width)


def state_frequencies(samples: torch.Tensor, candidates: torch.Tensor, positions: int, levels: int,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """How often (or with what total weight) the samples [..., 1, H, W] take each distinct candidate's first
    ``positions`` raster pixels: float64 [K] for candidates [K, 1, H, W]. Needs levels**positions < 2**62."""
    powers = levels ** torch.arange(positions - 1, -1, -1)

    def code(x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(-1, x.shape[-1] * x.shape[-2])[:, :positions].long() * powers).sum(1)

    drawn, wanted = code(samples), code(candidates)
    weights = torch.full((len(drawn),), 1 / len(drawn), dtype=torch.float64) if weights is None else weights.double()
    known, order = wanted.sort()
    at = torch.searchsorted(known, drawn).clamp(max=len(known) - 1)
    hit = known[at] == drawn
    totals = torch.zeros(len(known), dtype=torch.float64).index_add_(0, at[hit], weights[hit])
    return torch.empty_like(totals).index_copy_(0, order, totals)
