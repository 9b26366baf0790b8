"""MCMC for what a PixelCNN can only estimate: the forward model's exact posterior of unknown pixels given the others.

Metropolis-within-Gibbs over a set of unknown raster pixels, every other pixel fixed. Pixel j is
proposed from the model's own p(x_j | x_<j), which the current state's forward pass already gives,
so the proposal cancels the target's factor at j and the acceptance probability is the likelihood
ratio of the pixels after j:

    alpha = min(1, prod_{i>j} p(x_i | x'_<i) / p(x_i | x_<i))    (x' = x with x_j proposed)

One forward pass of the whole batch of chains per update. The chains target the forward model's
p(x_unknown | x_known) exactly: with a tracked pixel, its distribution given the known pixels (the
conditional on the later pixels when the unknown ones are the prefix up to it), and the chain itself a
sampler of the unknown pixels. ``run_resumable`` runs them in resumable chunks (``resume``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import diagnostics, resume
from . import inference as inf
from .models import PixelCNNBase, check_images


def log_conditionals(model: PixelCNNBase, x: torch.Tensor) -> torch.Tensor:
    """log p(x_i = v | x_<i) for every value v and raster pixel i: float [B, levels, H*W], one pass."""
    with torch.inference_mode():
        return torch.log_softmax(model(x).float(), dim=1).flatten(2)


def own_log_probs(log_cond: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x_i | x_<i) at the images' own values: [B, H*W]."""
    return log_cond.gather(1, x.reshape(len(x), 1, -1)).squeeze(1)


class Update(NamedTuple):
    """One Metropolis-within-Gibbs update of every chain at one pixel."""

    x: torch.Tensor  # long [B, 1, H, W]: the chains after the update
    log_cond: torch.Tensor  # [B, levels, H*W]: their log conditionals
    proposed: torch.Tensor  # long [B]: the value proposed for the pixel
    log_ratio: torch.Tensor  # float64 [B]: log of the Metropolis-Hastings ratio (accept with min(1, exp))
    accepted: torch.Tensor  # bool [B]


def later_log_ratio(log_cond_new: torch.Tensor, x_new: torch.Tensor, log_cond: torch.Tensor, x: torch.Tensor,
                    first: int, known_from: int | None = None, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log prod_{i >= first} p(x'_i | x'_<i) / p(x_i | x_<i) [B] in float64. With ``known_from`` and ``beta``
    (a number or one per chain [B]) the factors of the known pixels i >= known_from are raised to beta: the
    ratio of the tempered target p(x_<k) p(x_>=k | x_<k)^beta (``smc``)."""
    new, old = own_log_probs(log_cond_new, x_new).double(), own_log_probs(log_cond, x).double()
    if known_from is None or (isinstance(beta, float) and beta == 1.0):
        return new[:, first:].sum(1) - old[:, first:].sum(1)
    split = max(first, known_from)
    beta = torch.as_tensor(beta, dtype=torch.float64)
    return (new[:, first:split].sum(1) - old[:, first:split].sum(1)
            + beta * (new[:, split:].sum(1) - old[:, split:].sum(1)))


def accept(log_ratio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Metropolis-Hastings acceptances [B] (bool) for log ratios [B]: log u < log_ratio, u ~ U(0, 1) in float64."""
    u = torch.rand(len(log_ratio), generator=generator, dtype=torch.float64, device=generator.device)
    return u.log().to(log_ratio.device) < log_ratio


def update(model: PixelCNNBase, x: torch.Tensor, log_cond: torch.Tensor, index: int,
           generator: torch.Generator, known_from: int | None = None, beta: float | torch.Tensor = 1.0) -> Update:
    """Propose x_index ~ p(x_index | x_<index) from ``log_cond`` (the chains' current pass) and accept with
    the likelihood ratio of the later pixels: one forward pass. ``known_from`` and ``beta`` temper the
    known pixels' factors (``later_log_ratio``)."""
    b = len(x)
    cdf = log_cond[:, :, index].double().exp().cumsum(1)
    u = torch.rand(b, 1, generator=generator, dtype=torch.float64, device=generator.device).to(cdf.device)
    proposed = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=model.levels - 1).squeeze(1)
    x_new = x.clone(memory_format=torch.contiguous_format)
    x_new.view(b, -1)[:, index] = proposed
    log_cond_new = log_conditionals(model, x_new)
    log_ratio = later_log_ratio(log_cond_new, x_new, log_cond, x, index + 1, known_from, beta)
    accepted = accept(log_ratio, generator)
    return Update(torch.where(accepted.view(b, 1, 1, 1), x_new, x),
                  torch.where(accepted.view(b, 1, 1), log_cond_new, log_cond), proposed, log_ratio, accepted)


def recycled_indicator(step: Update, current: torch.Tensor, levels: int) -> torch.Tensor:
    """E[one-hot of the pixel's value after ``step`` | its current value [B], the proposal] [B, levels] (float64
    when the ratio is): the proposal with probability alpha = min(1, exp(log_ratio)), else the current value.
    Averaged over sweeps, a less noisy estimate of the pixel's distribution than counting its values."""
    alpha = step.log_ratio.clamp(max=0).exp().unsqueeze(1)
    return alpha * F.one_hot(step.proposed, levels) + (1 - alpha) * F.one_hot(current, levels)


@dataclass(frozen=True)
class Chains:
    """B chains after S sweeps of ``metropolis_within_gibbs``; ``pixel`` fields are None without a tracked pixel."""

    samples: torch.Tensor  # long [S // thin, B, 1, H, W]: the states after every thin-th sweep
    acceptance: torch.Tensor  # float64 [S, B]: fraction of each sweep's proposals accepted
    log_p: torch.Tensor  # float64 [S, B]: log p(x) in nats after each sweep
    passes: int = resume.summed()  # forward passes of the batch, the first one and the full conditionals included
    pixel: int | None = resume.kept()  # the tracked raster pixel
    values: torch.Tensor | None  # long [S, B]: its value after each sweep
    recycled: torch.Tensor | None  # float64 [S, B, levels]: E[its indicator after its update | current, proposed]
    full_conditionals: torch.Tensor | None  # float64 [S // every, B, levels]: p(x_pixel | others) after sweeps
    every: int = resume.kept()  # every, 2 every, ... (``rao_blackwell_every``; 0: none)


def metropolis_within_gibbs(model: PixelCNNBase, images: torch.Tensor, unknown: Iterable[int], sweeps: int,
                            generator: torch.Generator, *, pixel: int | None = None, rao_blackwell_every: int = 0,
                            thin: int = 1, progress: bool = False) -> Chains:
    """Run one chain per image [B, 1, H, W] over the sorted raster pixels ``unknown``; the others stay fixed.

    A sweep updates every unknown pixel once in raster order: ``len(unknown)`` passes of the batch.
    With ``pixel`` (one of ``unknown``) its value and two cheap estimates of its distribution are
    recorded per sweep, and with ``rao_blackwell_every = k`` its exact full conditional every k sweeps
    (``levels`` more passes each). To continue a run, start again from its last samples (one extra pass).
    """
    check_images(images, model.levels)
    unknown = [int(j) for j in unknown]
    size = images[0].numel()
    if not unknown or unknown != sorted(set(unknown)) or unknown[0] < 0 or unknown[-1] >= size:
        raise ValueError(f"unknown must be distinct raster indices in 0..{size - 1}, sorted")
    if pixel is not None and pixel not in unknown:
        raise ValueError(f"the tracked pixel {pixel} must be one of the unknown pixels")
    if sweeps < 1 or thin < 1 or rao_blackwell_every < 0:
        raise ValueError(f"need sweeps >= 1, thin >= 1, rao_blackwell_every >= 0; got {sweeps}, {thin}, "
                         f"{rao_blackwell_every}")
    b, levels = len(images), model.levels
    was_training = model.training
    model.eval()
    x = images.clone(memory_format=torch.contiguous_format).long()
    log_cond, passes = log_conditionals(model, x), 1
    samples, acceptance, log_p, values, recycled, conditionals = [], [], [], [], [], []
    bar = tqdm(total=sweeps * len(unknown), desc="MCMC updates", disable=not progress)
    for s in range(sweeps):
        accepted = torch.zeros(b, dtype=torch.float64)
        for j in unknown:
            current = x.view(b, -1)[:, j]
            step = update(model, x, log_cond, j, generator)
            x, log_cond, passes = step.x, step.log_cond, passes + 1
            accepted += step.accepted
            bar.update(1)
            if j == pixel:
                recycled.append(recycled_indicator(step, current, levels))
        acceptance.append(accepted / len(unknown))
        log_p.append(own_log_probs(log_cond, x).double().sum(1))
        if (s + 1) % thin == 0:
            samples.append(x)
        if pixel is not None:
            values.append(x.view(b, -1)[:, pixel])
            if rao_blackwell_every and (s + 1) % rao_blackwell_every == 0:
                conditionals.append(inf.full_conditional(model, x, pixel))
                passes += levels
    bar.close()
    model.train(was_training)

    def stack(items: list) -> torch.Tensor | None:
        return torch.stack(items) if items else None

    return Chains(torch.stack(samples) if samples else x.new_zeros(0, *x.shape), torch.stack(acceptance),
                  torch.stack(log_p), passes, pixel, stack(values), stack(recycled), stack(conditionals),
                  rao_blackwell_every if conditionals else 0)


concatenate = resume.concatenate  # joins runs of consecutive chunks


def run_resumable(model: PixelCNNBase, starts: torch.Tensor, unknown: list[int], sweeps: int, chunk: int,
                  generator: torch.Generator, checkpoint: Path, *, pixel: int | None = None,
                  progress: bool = False) -> tuple[Chains, float]:
    """``metropolis_within_gibbs`` in chunks of ``chunk`` sweeps, saved to ``checkpoint`` after each chunk so a
    killed run resumes where it stopped (same random numbers, same result; ``resume.run_in_chunks``). With
    ``pixel``, its full conditional is computed after every chunk. Returns the chains and the seconds spent
    over all sessions."""
    def run_chunk(x: torch.Tensor) -> Chains:
        return metropolis_within_gibbs(model, x, unknown, chunk, generator, pixel=pixel,
                                       rao_blackwell_every=chunk if pixel is not None else 0, progress=progress)

    def done(parts: list[Chains], seconds: float) -> None:
        if progress:
            print(f"MCMC: {len(parts) * chunk} of {sweeps} sweeps done, {seconds / 60:.1f} min", flush=True)

    return resume.run_in_chunks(run_chunk, Chains, starts, sweeps, chunk, generator, checkpoint, after_chunk=done)


# --- Estimates and diagnostics from the chains ------------------------------------------------------


class PixelEstimates(NamedTuple):
    """Three estimates of the tracked pixel's posterior [levels], over the chains and a range of sweeps."""

    counting: torch.Tensor  # frequencies of its sampled values
    recycled: torch.Tensor  # each update's expected next value given the proposal (free, less noisy)
    rao_blackwell: torch.Tensor | None  # its exact full conditionals averaged (``levels`` passes each)


def full_conditionals_between(full_conditionals: torch.Tensor, every: int, start: int,
                              stop: int | None = None) -> torch.Tensor:
    """Those of the full conditionals computed after every ``every``-th sweep that follow sweeps
    ``start .. stop-1`` (``start``: the burn-in): the leading dimension filtered."""
    sweep = (torch.arange(len(full_conditionals)) + 1) * every - 1  # the sweep each one follows
    return full_conditionals[(sweep >= start) & (sweep < (len(full_conditionals) * every if stop is None else stop))]


def pixel_estimates(chains: Chains, start: int = 0, stop: int | None = None) -> PixelEstimates:
    """The tracked pixel's posterior from sweeps ``start .. stop-1`` of every chain (``start``: the burn-in)."""
    if chains.pixel is None:
        raise ValueError("the chains track no pixel; run them with pixel=...")
    stop = len(chains.values) if stop is None else stop
    levels = chains.recycled.shape[-1]
    counting = F.one_hot(chains.values[start:stop].flatten(), levels).double().mean(0)
    rao_blackwell = None
    if chains.full_conditionals is not None:
        kept = full_conditionals_between(chains.full_conditionals, chains.every, start, stop)
        rao_blackwell = kept.reshape(-1, levels).mean(0) if len(kept) else None
    return PixelEstimates(counting, chains.recycled[start:stop].reshape(-1, levels).mean(0), rao_blackwell)


class Agreement(NamedTuple):
    """How well two groups of chains with different starts agree (the same target, so they should)."""

    pixel_tv: float  # total variation between their estimates of the tracked pixel (best estimator of each)
    log_p_rhat: float  # split R-hat of log p(x) over the chains of both groups
    acceptance: tuple[float, float]  # each group's mean acceptance rate


def agreement(a: Chains, b: Chains, burn_in: int = 0) -> Agreement:
    """Compare two groups of chains over their sweeps from ``burn_in`` on."""
    def best(chains: Chains) -> torch.Tensor:
        e = pixel_estimates(chains, burn_in)
        return e.rao_blackwell if e.rao_blackwell is not None else e.recycled

    both = a.pixel is not None and b.pixel is not None
    tv = float(diagnostics.total_variation(best(a), best(b))) if both else math.nan
    traces = torch.cat([a.log_p[burn_in:], b.log_p[burn_in:]], dim=1)
    rhat = diagnostics.split_rhat(traces) if len(traces) >= 4 else math.nan
    return Agreement(tv, rhat, (float(a.acceptance[burn_in:].mean()), float(b.acceptance[burn_in:].mean())))
