"""MCMC for the hard Q3 quantities: the forward model's exact posterior of unknown pixels given the others.

Metropolis-within-Gibbs over a set of unknown raster pixels, every other pixel fixed. Pixel j is
proposed from the model's own p(x_j | x_<j), which the current state's forward pass already gives,
so the proposal cancels the target's factor at j and the acceptance probability is the likelihood
ratio of the pixels after j:

    alpha = min(1, prod_{i>j} p(x_i | x'_<i) / p(x_i | x_<i))    (x' = x with x_j proposed)

One forward pass of the whole batch of chains per update. The chains target the forward model's
p(x_unknown | x_known) exactly: (d) is the middle pixel's marginal when the unknown pixels are
0..m, (g) the chain itself when they are the top half.

``tiny_check`` validates the chains, and compares them with the importance-sampling estimators of
``inference`` at equal cost, against enumeration on a tiny random model with a mismatched
reverse-order model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import inference as inf
from .models import PixelCNNBase, build, check_images
from .sampling import sample


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


def update(model: PixelCNNBase, x: torch.Tensor, log_cond: torch.Tensor, index: int,
           generator: torch.Generator) -> Update:
    """Propose x_index ~ p(x_index | x_<index) from ``log_cond`` (the chains' current pass) and accept with
    the likelihood ratio of the later pixels: one forward pass."""
    b = len(x)
    cdf = log_cond[:, :, index].double().exp().cumsum(1)
    u = torch.rand(b, 1, generator=generator, dtype=torch.float64)
    proposed = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=model.levels - 1).squeeze(1)
    x_new = x.clone(memory_format=torch.contiguous_format)
    x_new.view(b, -1)[:, index] = proposed
    log_cond_new = log_conditionals(model, x_new)
    later = slice(index + 1, None)
    log_ratio = (own_log_probs(log_cond_new, x_new)[:, later].double().sum(1)
                 - own_log_probs(log_cond, x)[:, later].double().sum(1))
    accepted = torch.rand(b, generator=generator, dtype=torch.float64).log() < log_ratio
    return Update(torch.where(accepted.view(b, 1, 1, 1), x_new, x),
                  torch.where(accepted.view(b, 1, 1), log_cond_new, log_cond), proposed, log_ratio, accepted)


@dataclass(frozen=True)
class Chains:
    """B chains after S sweeps of ``metropolis_within_gibbs``; ``pixel`` fields are None without a tracked pixel."""

    samples: torch.Tensor  # long [S // thin, B, 1, H, W]: the states after every thin-th sweep
    acceptance: torch.Tensor  # float64 [S, B]: fraction of each sweep's proposals accepted
    log_p: torch.Tensor  # float64 [S, B]: log p(x) in nats after each sweep
    passes: int  # forward passes of the batch, the first one and the full conditionals included
    pixel: int | None  # the tracked raster pixel
    values: torch.Tensor | None  # long [S, B]: its value after each sweep
    recycled: torch.Tensor | None  # float64 [S, B, levels]: E[its indicator after its update | current, proposed]
    full_conditionals: torch.Tensor | None  # float64 [S // every, B, levels]: p(x_pixel | others) after sweeps
    every: int  # every, 2 every, ... (``rao_blackwell_every``; 0: none)


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
            if j == pixel:  # the next value is the proposal with probability alpha, else the current one
                alpha = step.log_ratio.clamp(max=0).exp().unsqueeze(1)
                recycled.append(alpha * F.one_hot(step.proposed, levels) + (1 - alpha) * F.one_hot(current, levels))
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


def concatenate(parts: list[Chains]) -> Chains:
    """One run from consecutive runs of the same chains (each started from the last samples of the one before)."""
    def cat(name: str) -> torch.Tensor | None:
        items = [getattr(c, name) for c in parts]
        return None if items[0] is None else torch.cat(items)

    first = parts[0]
    return Chains(cat("samples"), cat("acceptance"), cat("log_p"), sum(c.passes for c in parts), first.pixel,
                  cat("values"), cat("recycled"), cat("full_conditionals"), first.every)


def run_resumable(model: PixelCNNBase, starts: torch.Tensor, unknown: list[int], sweeps: int, chunk: int,
                  generator: torch.Generator, checkpoint: Path, *, pixel: int | None = None,
                  progress: bool = False) -> tuple[Chains, float]:
    """``metropolis_within_gibbs`` in chunks of ``chunk`` sweeps, saved to ``checkpoint`` after each chunk so a
    killed run resumes where it stopped (same random numbers, same result). With ``pixel``, its full
    conditional is computed after every chunk. Returns the chains and the seconds spent over all segments."""
    if sweeps % chunk:
        raise ValueError(f"sweeps ({sweeps}) must be a multiple of chunk ({chunk})")
    parts, seconds = [], 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        parts, seconds = [Chains(**p) for p in state["parts"]], state["seconds"]
        generator.set_state(state["generator"])
    while len(parts) * chunk < sweeps:
        clock = time.perf_counter()
        x = parts[-1].samples[-1] if parts else starts
        parts.append(metropolis_within_gibbs(model, x, unknown, chunk, generator, pixel=pixel,
                                             rao_blackwell_every=chunk if pixel is not None else 0,
                                             progress=progress))
        seconds += time.perf_counter() - clock
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"parts": [asdict(p) for p in parts], "seconds": seconds, "generator": generator.get_state()},
                   checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)
        if progress:
            print(f"MCMC: {len(parts) * chunk} of {sweeps} sweeps done, {seconds / 60:.1f} min", flush=True)
    return concatenate(parts), seconds


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


def split_rhat(trace: torch.Tensor) -> float:
    """Split R-hat of a scalar trace [S, C] (C chains): each chain is halved, and the variance between the
    halves' means is set against the variance within them. Near 1 when all halves sample the same
    distribution; above about 1.01-1.1 they disagree (not converged, or started apart and not mixed)."""
    n = trace.shape[0] // 2
    if n < 2:
        raise ValueError(f"need at least 4 sweeps for split R-hat, got {trace.shape[0]}")
    halves = torch.cat([trace[:n], trace[n:2 * n]], dim=1).double()  # [n, 2C]
    within = halves.var(0).mean()
    pooled = (n - 1) / n * within + halves.mean(0).var()
    return float((pooled / within).sqrt())


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

    tv = float(inf.total_variation(best(a), best(b))) if a.pixel is not None and b.pixel is not None else math.nan
    traces = torch.cat([a.log_p[burn_in:], b.log_p[burn_in:]], dim=1)
    rhat = split_rhat(traces) if len(traces) >= 4 else math.nan
    return Agreement(tv, rhat, (float(a.acceptance[burn_in:].mean()), float(b.acceptance[burn_in:].mean())))


def prior_starts(model: PixelCNNBase, image: torch.Tensor, known_from: int, n: int,
                 generator: torch.Generator) -> torch.Tensor:
    """n copies of one image [1, 1, H, W] with the pixels before ``known_from`` drawn from the model
    (ancestral sampling that ignores the given pixels): over-dispersed starting states."""
    drawn = sample(model, n, stop=known_from, size=tuple(image.shape[-2:]), generator=generator)
    out = image.repeat(n, 1, 1, 1).long()
    out.view(n, -1)[:, :known_from] = drawn.view(n, -1)[:, :known_from]
    return out


# --- Validation against enumeration on a tiny model --------------------------------------------------


@dataclass(frozen=True)
class TinyCheck:
    """Errors (total variation to the exact answer) per conditioning image [N] and budget [K].

    A budget counts single-image forward passes; one sampling step of one image counts as a pass.
    MCMC uses ``chains`` chains per start and discards its first quarter of sweeps.
    """

    budgets: torch.Tensor  # long [K]
    images: torch.Tensor  # long [N, 1, H, W]: the conditioning images
    reverse_kl_bits: float  # KL(forward || reverse) in bits, estimated on 4096 forward samples: the mismatch
    exact_d: torch.Tensor  # float64 [N, levels]: the exact (d) answers
    g_entropy_bits: torch.Tensor  # [N]: entropy of the exact (g) posteriors (how spread out they are)
    d_is_prior: torch.Tensor  # (d) importance sampling with prior prefixes (``conditional_on_later_pixels``)
    d_is_reverse: torch.Tensor  # (d) importance sampling with reverse-model completions (``reverse_proposals``)
    d_mcmc_counting: torch.Tensor  # (d) MCMC from reverse completions, counting the middle value
    d_mcmc_recycled: torch.Tensor  # the same chains, recycled proposals
    d_mcmc_rao_blackwell: torch.Tensor  # the same chains, full conditionals averaged (their passes counted)
    d_mcmc_prior_start: torch.Tensor  # (d) MCMC from prior starts, full conditionals averaged
    d_reverse: torch.Tensor  # [N]: the reverse model's own answer
    g_sir_prior: torch.Tensor  # (g) importance weights of prior top halves
    g_is_reverse: torch.Tensor  # (g) importance weights of reverse-model completions
    g_mcmc: torch.Tensor  # (g) MCMC from reverse completions
    g_mcmc_prior_start: torch.Tensor  # (g) MCMC from prior starts
    g_reverse: torch.Tensor  # [N]: the reverse model's own posterior
    acceptance_d: torch.Tensor  # [N]: mean acceptance rate of the (d) chains
    acceptance_g: torch.Tensor  # [N]: of the (g) chains
    agreement_d: torch.Tensor  # [N]: TV between the two starts' (d) estimates at the largest budget
    agreement_g: torch.Tensor  # [N]: TV between the two starts' (g) frequencies at the largest budget


def tiny_model(seed: int, levels: int = 2, sharpness: float = 4.0) -> PixelCNNBase:
    """A randomly initialised simple PixelCNN whose output weights are scaled by ``sharpness``: at 1 its
    conditionals are nearly uniform (an easy posterior); larger makes them depend strongly on the context."""
    torch.manual_seed(seed)
    model = build("simple", levels=levels, channels=8, layers=2, first_kernel_size=3).eval()
    with torch.no_grad():
        model.out.weight.mul_(sharpness)
        model.out.bias.mul_(sharpness)
    return model


def tiny_check(seed: int = 1, budgets: tuple[int, ...] = (2**10, 2**12, 2**14, 2**16), size: tuple[int, int] = (4, 4),
               levels: int = 2, n_images: int = 3, chains: int = 16, sharpness: float = 4.0,
               reverse_steps: int = 40, fit_images: int = 2048, images: torch.Tensor | None = None) -> TinyCheck:
    """Every (d) and (g) estimator against enumeration on a tiny random model, as the budget grows.

    The conditioning ``images`` [N, 1, H, W] default to ``n_images`` samples of the model (typical given
    pixels; pass unusual ones to make the posteriors move further from the prior). With seed 1 the
    model's (g) posteriors keep about 4.5 of their 8 bits (``g_entropy_bits``).

    The reverse-order model is deliberately mismatched: fitted by maximum likelihood to only
    ``fit_images`` samples of the forward model for ``reverse_steps`` Adam steps. Exact answers
    enumerate the unknown pixels only (``levels**(m+1)`` completions for (d)), so sizes up to about
    20 unknown binary pixels work.
    """
    height, width = size
    pixel = (height // 2, width // 2)
    m, half = inf.raster_index(pixel, width), (height // 2) * width
    if min(budgets) < 2 * chains * (m + 2 + levels) or min(budgets) < 2 * chains * (half + 1):
        raise ValueError(f"budgets must pay for the chains' starts and a sweep: at least "
                         f"{2 * chains * max(m + 2 + levels, half + 1)} passes with {chains} chains")
    model = tiny_model(seed, levels, sharpness)
    generator = torch.Generator().manual_seed(seed)
    # The reverse model: maximum likelihood on a few of the forward model's samples, for a few steps.
    torch.manual_seed(seed + 1)
    data = inf.rotate(sample(model, fit_images, size=size, generator=generator))
    reverse = inf.fit_to_distribution(build("simple", levels=levels, channels=8, layers=2, first_kernel_size=3),
                                      data, torch.full((fit_images,), 1 / fit_images), steps=reverse_steps)
    held_out = sample(model, 4096, size=size, generator=generator)
    gap = inf.log_probs(model, held_out) - inf.log_probs(reverse, inf.rotate(held_out))  # nats per image
    kl_bits = float(gap.mean() / math.log(2))

    if images is None:
        images = sample(model, n_images, size=size, generator=generator)
    check_images(images, levels)
    if tuple(images.shape[-2:]) != (height, width):
        raise ValueError(f"conditioning images must be {height}x{width}, got {tuple(images.shape[-2:])}")
    n_images = len(images)
    fields: dict[str, list] = {}
    exact = []

    def record(name: str, value) -> None:
        fields.setdefault(name, []).append(torch.as_tensor(value, dtype=torch.float64))

    def sweeps_within(budget: int, unknown: int, extra: int = 0) -> int:
        """Sweeps the budget pays for: starts (a sampling run and one pass per chain), then sweeps."""
        return max(0, (budget - chains * (unknown + 1)) // (chains * (unknown + extra)))

    tv = inf.total_variation
    for image in images:
        image = image.unsqueeze(0)
        candidates, p = inf.exact_posterior(model, image, m + 1)
        exact_d = torch.zeros(levels, dtype=torch.float64).index_add_(0, candidates.view(len(p), -1)[:, m], p)
        candidates, exact_g = inf.exact_posterior(model, image, half)
        exact.append(exact_d)
        record("g_entropy_bits", -(exact_g * exact_g.clamp(min=1e-300).log2()).sum())
        record("d_reverse", tv(inf.reverse_conditional(reverse, image, m)[0], exact_d))
        q = inf.pixel_log_probs(reverse, inf.rotate(candidates))[:, height * width - half:].sum(1).double().exp()
        record("g_reverse", tv(q / q.sum(), exact_g))

        # MCMC: one long run per start; the estimate at a budget uses the sweeps that budget pays for.
        longest = {"d": sweeps_within(max(budgets), m + 1), "g": sweeps_within(max(budgets), half)}
        runs = {}
        for start in ("reverse", "prior"):
            for question, known_from in (("d", m + 1), ("g", half)):
                if start == "reverse":
                    x0 = inf.sample_before(reverse, image, known_from, chains, generator)
                else:
                    x0 = prior_starts(model, image, known_from, chains, generator)
                runs[start, question] = metropolis_within_gibbs(
                    model, x0, range(known_from), longest[question], generator,
                    pixel=m if question == "d" else None, rao_blackwell_every=1 if question == "d" else 0)
        for budget in budgets:
            s, s_rb = sweeps_within(budget, m + 1), sweeps_within(budget, m + 1, levels)
            e = pixel_estimates(runs["reverse", "d"], s // 4, s)
            e_rb = pixel_estimates(runs["reverse", "d"], s_rb // 4, s_rb)
            record("d_mcmc_counting", tv(e.counting, exact_d))
            record("d_mcmc_recycled", tv(e.recycled, exact_d))
            record("d_mcmc_rao_blackwell", tv(e_rb.rao_blackwell, exact_d))
            record("d_mcmc_prior_start", tv(pixel_estimates(runs["prior", "d"], s_rb // 4, s_rb).rao_blackwell,
                                             exact_d))
            s = sweeps_within(budget, half)
            for start, name in (("reverse", "g_mcmc"), ("prior", "g_mcmc_prior_start")):
                drawn = runs[start, "g"].samples[s // 4:s]
                record(name, tv(inf.state_frequencies(drawn, candidates, half, levels), exact_g))

            n = max(1, budget // (m + levels))  # a prefix sample, then every value of the pixel scored
            record("d_is_prior", tv(inf.conditional_on_later_pixels(model, image, m, n, generator).p, exact_d))
            r = inf.reverse_proposals(model, reverse, image, m + 1, max(1, budget // (m + 3)), generator)
            record("d_is_reverse", tv(inf.weighted_pixel_distribution(r.samples, r.weights, m, levels),
                                      exact_d))
            n = max(1, budget // (half + 1))
            proposals = sample(model, n, stop=half, size=size, generator=generator)
            w = inf.complete_top_half_sir(model, image, proposals, 1, generator).weights
            record("g_sir_prior", tv(inf.state_frequencies(proposals, candidates, half, levels, w), exact_g))
            r = inf.reverse_proposals(model, reverse, image, half, max(1, budget // (half + 2)), generator)
            record("g_is_reverse", tv(inf.state_frequencies(r.samples, candidates, half, levels, r.weights),
                                      exact_g))
        d_runs, g_runs = (runs["reverse", "d"], runs["prior", "d"]), (runs["reverse", "g"], runs["prior", "g"])
        record("acceptance_d", torch.cat([c.acceptance for c in d_runs], 1).mean())
        record("acceptance_g", torch.cat([c.acceptance for c in g_runs], 1).mean())
        record("agreement_d", agreement(*d_runs, burn_in=longest["d"] // 4).pixel_tv)
        g_freq = [inf.state_frequencies(c.samples[longest["g"] // 4:], candidates, half, levels) for c in g_runs]
        record("agreement_g", tv(*g_freq))

    per_image = {"d_reverse", "g_reverse", "g_entropy_bits", "acceptance_d", "acceptance_g", "agreement_d",
                 "agreement_g"}
    out = {name: torch.stack(items) if name in per_image else torch.stack(items).view(n_images, len(budgets))
           for name, items in fields.items()}
    return TinyCheck(budgets=torch.tensor(budgets), images=images, reverse_kl_bits=kl_bits,
                     exact_d=torch.stack(exact), **out)
