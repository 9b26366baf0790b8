"""Sequential Monte Carlo with tempering for posteriors of unknown pixels: particles carried from the prior to the
posterior, so that no chain has to find the posterior's regions from a start of its own.

As in ``blocks``, the unknown pixels are the raster prefix 0..k-1 and the known pixels the rest. The targets

    pi_beta(x_<k)  ∝  p(x_<k) p(x_>=k | x_<k)^beta,      0 = beta_0 < beta_1 < ... < beta_T = 1,

run from the forward model's own prior over the prefix (drawn exactly by ancestral sampling) to the
posterior p(x_<k | x_>=k). Each step reweights the particles by the known pixels' likelihood raised to
beta_t - beta_{t-1}, the largest step whose conditional effective sample size stays above ``ess_target``
(adaptive tempering; Zhou, Johansen and Aston, 2016); resamples them (systematic resampling) when their
effective sample size falls below a half; and moves them by ``sweeps`` sweeps of ``blocks`` moves that leave
pi_beta invariant. While beta is small the likelihood is flat and the independence move (a fresh prior
prefix) is accepted often: particles change region early, before the posterior's regions separate.

The mean incremental weights multiply to an unbiased estimate of the evidence p(x_>=k) (``log_evidence``),
and the weighted particles estimate the posterior. Runs with other seeds that agree, on the answer and on
the evidence, are the check: no particle has a start of its own to forget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from . import blocks, mcmc, resume
from . import estimators as est
from . import inference as inf
from .models import PixelCNNBase, check_images


@dataclass(frozen=True)
class Particles:
    """G groups of n particles (one group per conditioning image) after T tempering steps of ``temper``."""

    samples: torch.Tensor  # long [G * n, 1, H, W]: the particles, group g in rows g*n .. (g+1)*n - 1
    log_weights: torch.Tensor  # float64 [G, n]: their normalised log weights
    betas: torch.Tensor  # float64 [T + 1, G]: the temperatures, 0 first and 1 last
    ess: torch.Tensor  # float64 [T, G]: effective sample size (a fraction of n) after each reweighting
    resampled: torch.Tensor  # bool [T, G]: whether the step resampled
    log_evidence: torch.Tensor  # float64 [G]: log p(x_>=k) in nats (the log of an unbiased estimate)
    moves: list  # M names of the moves of a sweep (``blocks.chains``)
    acceptance: torch.Tensor  # float64 [T, M, G]: each move's acceptance rate over the step's sweeps
    changed: torch.Tensor  # float64 [T, M, G]: the fraction of its pixels that changed
    passes: torch.Tensor  # long [M, 3]: per sweep, forward and reverse passes and sampler steps of each move
    sweeps: int  # sweeps of moves per step
    seconds: float
    ancestors: torch.Tensor  # long [G, n]: the index of each particle's ancestor among the group's first n

    def weights(self) -> torch.Tensor:
        """The particles' normalised weights, flat [G * n] (in the order of ``samples``)."""
        return self.log_weights.exp().flatten()


def known_log_likelihood(log_cond: torch.Tensor, x: torch.Tensor, known_from: int) -> torch.Tensor:
    """log p(x_>=k | x_<k) of every image [B] (float64) from its forward pass ``log_cond``."""
    return mcmc.own_log_probs(log_cond, x)[:, known_from:].double().sum(1)


def next_beta(beta: torch.Tensor, log_lik: torch.Tensor, log_w: torch.Tensor, ess_target: float) -> torch.Tensor:
    """Per group [G], the largest next temperature in (beta, 1] whose reweighting exp(step * log_lik) [G, n] of
    the weighted particles keeps their conditional effective sample size (sum W u)^2 / sum W u^2 at or above
    ``ess_target`` (bisection; the whole way to 1 when that keeps it)."""
    weights = torch.softmax(log_w, dim=1)

    def conditional_ess(step: torch.Tensor) -> torch.Tensor:
        a = step.unsqueeze(1) * log_lik
        u = (a - a.max(1, keepdim=True).values).exp()
        return (weights * u).sum(1) ** 2 / (weights * u * u).sum(1)

    low, high = torch.zeros_like(beta), 1 - beta
    whole = conditional_ess(high) >= ess_target
    for _ in range(60):
        middle = (low + high) / 2
        good = conditional_ess(middle) >= ess_target
        low, high = torch.where(good, middle, low), torch.where(good, high, middle)
    return torch.where(whole, torch.ones_like(beta), beta + low)


def systematic_resample(log_w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Indices [G, n] into each group's particles, drawn in proportion to its weights by systematic resampling."""
    g, n = log_w.shape
    cdf = torch.softmax(log_w, dim=1).cumsum(1)
    cdf[:, -1] = 1.0
    u = torch.rand(g, 1, generator=generator, dtype=torch.float64, device=generator.device).to(cdf.device)
    u = (u + torch.arange(n, dtype=torch.float64, device=cdf.device)) / n
    return torch.searchsorted(cdf, u).clamp(max=n - 1)


def temper(model: PixelCNNBase, reverse: PixelCNNBase | None, images: torch.Tensor, known_from: int, n: int,
           generator: torch.Generator, *, schedule: list[tuple[str, int, int]], sites: int = 0, sweeps: int = 1,
           ess_target: float = 0.5, temperatures: torch.Tensor | None = None, checkpoint: Path | None = None,
           progress: bool = False) -> Particles:
    """Carry n particles per conditioning image [G, 1, H, W] from the prior of the prefix 0..known_from-1 to its
    posterior given the other pixels; each step ends with ``sweeps`` sweeps of ``blocks.chains`` with
    ``schedule`` and ``sites``. The temperatures are adaptive (``next_beta``, resampling when the ESS falls
    below a half) unless ``temperatures`` [T + 1, G] fixes them in advance (from 0 to 1 per group; the
    particles are then resampled at every step, so that ``log_evidence`` is the log of an unbiased estimate).
    With ``checkpoint`` the state is saved after every step, so that a killed run resumes where it stopped
    with the same random numbers."""
    check_images(images, model.levels)
    if not 0 < known_from < images[0].numel() or n < 2 or sweeps < 1 or not 0 < ess_target < 1:
        raise ValueError(f"need 0 < known_from < {images[0].numel()}, n >= 2, sweeps >= 1 and 0 < ess_target < 1; "
                         f"got {known_from}, {n}, {sweeps}, {ess_target}")
    groups = len(images)
    if temperatures is not None and (temperatures.dim() != 2 or temperatures.shape[1] != groups
                                     or (temperatures[0] != 0).any() or (temperatures[-1] != 1).any()
                                     or (temperatures.diff(dim=0) < 0).any()):
        raise ValueError(f"temperatures must be [T + 1, {groups}], rising from 0 to 1 in every column")
    offsets = (torch.arange(groups) * n).unsqueeze(1)
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        generator.set_state(state.pop("generator"))
    else:
        clock = time.perf_counter()
        x = torch.cat([est.prior_starts(model, image.unsqueeze(0), known_from, n, generator) for image in images])
        state = {"x": x, "log_w": torch.zeros(groups, n, dtype=torch.float64), "betas": [torch.zeros(groups)],
                 "log_z": torch.zeros(groups, dtype=torch.float64), "ess": [], "resampled": [], "acceptance": [],
                 "changed": [], "moves": [], "passes": torch.zeros(0, 3, dtype=torch.long),
                 "ancestors": torch.arange(n).expand(groups, n).clone(), "seconds": time.perf_counter() - clock}
    state["betas"] = [b.double() for b in state["betas"]]
    bar = tqdm(total=100, desc="tempering (% of the way to beta = 1)", disable=not progress)
    bar.update(int(100 * float(state["betas"][-1].min())))
    while float(state["betas"][-1].min()) < 1:
        clock = time.perf_counter()
        x, log_w, beta = state["x"], state["log_w"], state["betas"][-1]
        log_lik = known_log_likelihood(mcmc.log_conditionals(model, x), x, known_from).view(groups, n)
        if temperatures is None:
            new_beta = next_beta(beta, log_lik, log_w, ess_target)
        else:
            new_beta = temperatures[len(state["ess"]) + 1].double()
        increment = (new_beta - beta).unsqueeze(1) * log_lik
        state["log_z"] = state["log_z"] + (torch.logsumexp(log_w + increment, 1) - torch.logsumexp(log_w, 1))
        log_w = torch.log_softmax(log_w + increment, dim=1)
        ess = 1 / (log_w.exp() ** 2).sum(1) / n
        resampled = ess < 0.5 if temperatures is None else torch.ones(groups, dtype=torch.bool)
        if resampled.any():
            index = torch.where(resampled.unsqueeze(1), systematic_resample(log_w, generator),
                                torch.arange(n).expand(groups, n))
            x = x[(index + offsets).flatten()]
            state["ancestors"] = state["ancestors"].gather(1, index)
            log_w = torch.where(resampled.unsqueeze(1), torch.full_like(log_w, -math.log(n)), log_w)
        run = blocks.chains(model, reverse, x, known_from, sweeps, generator, schedule=schedule, sites=sites,
                            thin=sweeps, beta=new_beta.repeat_interleave(n))
        state |= {"x": run.samples[-1], "log_w": log_w, "moves": run.moves, "passes": run.passes}
        state["betas"].append(new_beta)
        state["ess"].append(ess)
        state["resampled"].append(resampled)
        state["acceptance"].append(run.acceptance.mean(0).view(-1, groups, n).mean(2))
        state["changed"].append(run.changed.mean(0).view(-1, groups, n).mean(2))
        state["seconds"] += time.perf_counter() - clock
        if checkpoint is not None:
            resume.save(checkpoint, {**state, "generator": generator.get_state()})
        bar.update(int(100 * float(new_beta.min())) - bar.n)
        bar.set_postfix(steps=len(state["ess"]), ess=f"{float(ess.min()):.2f}")
    bar.close()

    def stack(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.stack(state[name]) if state[name] else torch.zeros(0, groups, dtype=dtype)

    return Particles(state["x"], state["log_w"], torch.stack(state["betas"]), stack("ess", torch.float64),
                     stack("resampled", torch.bool), state["log_z"], state["moves"],
                     stack("acceptance", torch.float64), stack("changed", torch.float64), state["passes"], sweeps,
                     state["seconds"], state["ancestors"])


def pixel_posterior(model: PixelCNNBase, particles: Particles, index: int) -> torch.Tensor:
    """Each group's posterior of pixel ``index`` [G, levels], Rao-Blackwellised: the particles' exact full
    conditionals p(x_index | x_-index) averaged with their weights (``levels`` passes of the distinct particles:
    resampling leaves copies, each computed once)."""
    distinct, copy_of = torch.unique(particles.samples.flatten(1), dim=0, return_inverse=True)
    conditionals = inf.full_conditional(model, distinct.view(-1, *particles.samples.shape[1:]), index)[copy_of]
    return (particles.log_weights.exp().unsqueeze(2) * conditionals.view(*particles.log_weights.shape, -1)).sum(1)

