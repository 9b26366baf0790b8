"""What a PixelCNN can only estimate: Monte Carlo, importance-sampling and sampling-importance-resampling
estimates of marginals and of conditionals on later pixels, with the model's own samples or the reverse-order
model's as proposals.

Each estimator draws with ``sampling.sample`` and scores with the exact passes of ``inference``; the
weighted ones return their self-normalised weights, their effective sample size and ``log_evidence``,
the log of the mean unnormalised weight (an estimate of log p(given pixels)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .inference import conditional, full_conditional, log_prob, pixel_log_probs, rotate
from .models import PixelCNNBase
from .sampling import sample


class MonteCarlo(NamedTuple):
    """A Monte Carlo estimate of a distribution: its value, standard error and per-sample terms."""

    p: torch.Tensor
    stderr: torch.Tensor
    terms: torch.Tensor


class Weighted(NamedTuple):
    """An importance-sampling estimate of a distribution, with the self-normalised weights and their ESS."""

    p: torch.Tensor
    ess: torch.Tensor
    weights: torch.Tensor
    log_evidence: torch.Tensor  # log of the mean unnormalised weight: an estimate of log p(given pixels)


class Proposals(NamedTuple):
    """Weighted samples (self-normalised ``weights``) and the effective sample size of the weights.

    For sampling-importance-resampling, ``samples`` are the resampled draws and ``weights`` those of
    the proposals they were drawn from."""

    samples: torch.Tensor
    weights: torch.Tensor
    ess: torch.Tensor
    log_evidence: torch.Tensor  # log of the mean unnormalised weight: an estimate of log p(given pixels)


def log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    """log of the mean of exp(log_w), computed stably."""
    return torch.logsumexp(log_w.double(), dim=0) - math.log(len(log_w))


def effective_sample_size(weights: torch.Tensor) -> torch.Tensor:
    """1 / sum(w^2) of self-normalised weights: how even they are (n when equal, 1 when one dominates)."""
    return 1.0 / (weights**2).sum()


def marginal_monte_carlo(model: PixelCNNBase, index: int, n: int, generator: torch.Generator,
                         size: tuple[int, int]) -> MonteCarlo:
    """p(x_index) by Monte Carlo: the average of p(x_index | prefix) over n ancestral prefix samples.

    Averaging the predicted distributions (not counting sampled values) gives an unbiased estimate
    with a much smaller variance.
    """
    prefixes = sample(model, n, stop=index, size=size, generator=generator)
    terms = conditional(model, prefixes, index)  # [n, levels]
    return MonteCarlo(p=terms.mean(0), stderr=terms.std(0) / n**0.5, terms=terms)


def conditional_on_later_pixels(model: PixelCNNBase, x: torch.Tensor, index: int, n: int,
                                generator: torch.Generator) -> Weighted:
    """p(x_index | every pixel after it) for one image [1, 1, H, W], by importance sampling.

    The unknown earlier pixels are drawn from the model itself (ancestral prefixes x_<i ~ p), so for
    each value v: p(v | x_>i) is proportional to E[ p(v | x_<i) p(x_>i | x_<i, v) ]. Each prefix's
    weight is its likelihood of the given later pixels; the value v is summed out exactly for every
    prefix (``levels`` passes each).
    """
    prefixes = sample(model, n, stop=index, size=tuple(x.shape[-2:]), generator=generator)
    joint = torch.empty(n, model.levels, dtype=torch.float64)  # log p(v, x_>i | prefix)
    for k, prefix in enumerate(prefixes):
        candidates = x.repeat(model.levels, 1, 1, 1)  # [levels, 1, H, W]: the prefix, then each value v
        candidates.view(model.levels, -1)[:, :index] = prefix.view(-1)[:index]
        candidates.view(model.levels, -1)[:, index] = torch.arange(model.levels)
        joint[k] = pixel_log_probs(model, candidates)[:, index:].sum(1).double()  # [levels]
    log_w = torch.logsumexp(joint, dim=1)  # each prefix's p(given later pixels | prefix), v summed out
    weights = torch.softmax(log_w, dim=0)
    posterior = torch.softmax(torch.logsumexp(joint, dim=0), dim=0)
    return Weighted(p=posterior, ess=effective_sample_size(weights), weights=weights,
                    log_evidence=log_mean_exp(log_w))


def complete_given_later(model: PixelCNNBase, image: torch.Tensor, proposals: torch.Tensor, known_from: int, n: int,
                         generator: torch.Generator) -> Proposals:
    """n completions of the pixels before raster index ``known_from`` of one image [1, 1, H, W] given the
    pixels from ``known_from`` on, by sampling-importance-resampling.

    ``proposals`` are model samples of those earlier pixels (long [K, 1, H, W], later pixels ignored). Each
    is weighted by the likelihood the model gives the *given* later pixels after it, p(x_>=k | x_<k); n of
    them are drawn in proportion to the weights (``resample``): long [n, 1, H, W].
    """
    k = len(proposals)
    candidates = image.repeat(k, 1, 1, 1)
    candidates.view(k, -1)[:, :known_from] = proposals.view(k, -1)[:, :known_from]
    log_w = torch.cat([pixel_log_probs(model, chunk)[:, known_from:].sum(1).double()
                       for chunk in candidates.split(512)])  # in chunks: the logits of 512 images take 400 MB
    weights = torch.softmax(log_w, dim=0)
    return Proposals(samples=resample(candidates, weights, n, generator), weights=weights,
                     ess=effective_sample_size(weights), log_evidence=log_mean_exp(log_w))


def gibbs(model: PixelCNNBase, x: torch.Tensor, unknown: list[int], sweeps: int,
          generator: torch.Generator) -> torch.Tensor:
    """A Gibbs chain over the ``unknown`` raster pixels of one image [1, 1, H, W], the others fixed.

    Each update draws a pixel from its exact full conditional (``inference.full_conditional``: ``levels`` passes), so a
    sweep costs ``levels * len(unknown)`` passes. Starts from the given values; returns the state
    after every sweep: long [sweeps, 1, H, W].
    """
    state, states = x.clone().long(), []
    for _ in range(sweeps):
        for index in unknown:
            p = full_conditional(model, state, index)[0]
            drawn = torch.multinomial(p.to(generator.device), 1, generator=generator)
            state.view(-1)[index] = drawn[0].to(state.device)
        states.append(state.clone())
    return torch.cat(states)


def sample_before(reverse_model: PixelCNNBase, x: torch.Tensor, known_from: int, n: int,
                  generator: torch.Generator, progress: bool = False) -> torch.Tensor:
    """n completions of one image [1, 1, H, W]: pixels before raster index ``known_from`` drawn by the
    reverse model given the pixels from ``known_from`` on (exact ancestral sampling of that model)."""
    height, width = x.shape[-2:]
    rotated = sample(reverse_model, images=rotate(x).repeat(n, 1, 1, 1), start=height * width - known_from,
                     generator=generator, progress=progress)
    return rotate(rotated)


def reverse_proposals(model: PixelCNNBase, reverse_model: PixelCNNBase, x: torch.Tensor, known_from: int,
                      n: int, generator: torch.Generator, progress: bool = False) -> Proposals:
    """Importance sampling of the forward model's p(x_<k | x_>=k) with the reverse model as proposal.

    Proposals are the reverse model's completions (``sample_before``); each weight is
    p(completed image) / q(sampled pixels | given pixels), both one pass, self-normalised. The
    weighted samples are consistent for the *forward* model's posterior.
    """
    samples = sample_before(reverse_model, x, known_from, n, generator, progress)
    height, width = x.shape[-2:]
    log_q = pixel_log_probs(reverse_model, rotate(samples))[:, height * width - known_from:].sum(1)
    log_w = (log_prob(model, samples) - log_q).double()
    weights = torch.softmax(log_w, dim=0)
    return Proposals(samples=samples, weights=weights, ess=effective_sample_size(weights),
                     log_evidence=log_mean_exp(log_w))


def weighted_pixel_distribution(samples: torch.Tensor, weights: torch.Tensor, index: int,
                                levels: int) -> torch.Tensor:
    """The distribution of pixel ``index``'s value over weighted samples: [levels]."""
    values = samples.flatten(1)[:, index].long()
    return torch.zeros(levels, dtype=torch.float64).index_add_(0, values.cpu(), weights.double().cpu())


def heaviest(weights: torch.Tensor, dropped: float) -> int:
    """How many of the heaviest normalised ``weights`` carry all but ``dropped`` of the weight."""
    w = weights.double().sort(descending=True).values
    return min(int((w.cumsum(0) < 1 - dropped).sum()) + 1, len(w))


def rao_blackwellised_pixel(model: PixelCNNBase, samples: torch.Tensor, weights: torch.Tensor, index: int,
                            dropped: float = 1e-3) -> torch.Tensor:
    """sum_n w_n p(x_index | sample n without that pixel) over weighted samples (long [n, 1, H, W]): [levels].

    The exact full conditional (``levels`` passes each) replaces each sample's own value of pixel ``index``; it is
    computed for the heaviest samples that carry all but ``dropped`` of the weight, the rest keep their value.
    """
    w = weights.double().cpu()
    order, kept = w.argsort(descending=True), heaviest(w, dropped)
    rest = weighted_pixel_distribution(samples[order[kept:]], w[order[kept:]], index, model.levels)
    heavy = full_conditional(model, samples[order[:kept]], index).double().cpu()
    return w[order[:kept]] @ heavy + rest


def resample(samples: torch.Tensor, weights: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n of the samples drawn in proportion to their weights (the R of SIR)."""
    drawn = torch.multinomial(weights.to(generator.device), n, replacement=True, generator=generator)
    return samples[drawn.to(samples.device)]


def prior_starts(model: PixelCNNBase, image: torch.Tensor, known_from: int, n: int,
                 generator: torch.Generator) -> torch.Tensor:
    """n copies of one image [1, 1, H, W] with the pixels before ``known_from`` drawn from the model
    (ancestral sampling that ignores the given pixels): over-dispersed starting states."""
    drawn = sample(model, n, stop=known_from, size=tuple(image.shape[-2:]), generator=generator)
    out = image.repeat(n, 1, 1, 1).long()
    out.view(n, -1)[:, :known_from] = drawn.view(n, -1)[:, :known_from]
    return out
