"""Block moves for posteriors of unknown pixels: Metropolis-Hastings updates that change many pixels at once.

The target is ``mcmc``'s: the forward model's p(x_unknown | x_known), the unknown pixels a raster prefix
0..k-1. A move resamples one block of raster pixels [a, b) inside the prefix from an exact proposal and
accepts it with min(1, exp(log_ratio)), so that the target is left invariant:

* ``forward``: the block drawn by the forward model given the pixels before it (ancestral sampling,
  ``sampling.sample``). Its proposal cancels the target's factors inside the block, so the ratio is the
  likelihood ratio of the pixels after the block; a block of one pixel is ``mcmc.update``, and the block
  [0, k) is an independence move with the model's own prior prefixes.
* ``reverse``: the block drawn by the reverse-order model given the pixels after it (the rows below,
  unknown and known), accepted with p(x') q(x_B | rest) / (p(x) q(x'_B | rest)); the block [0, k) is an
  independence move with the reverse model's completions.

``chains`` runs a schedule of moves (a sweep: every block once, then a few single-site updates at random
unknown pixels) and records per move its acceptance rate and the fraction of the block's pixels that
actually change (a proposal equal to the current value counts as accepted but changes nothing), its
forward passes and its seconds. ``run_resumable`` saves it in chunks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from . import inference as inf
from . import mcmc, resume
from .models import PixelCNNBase, check_images
from .sampling import sample

PROPOSALS = ("forward", "reverse")


class BlockUpdate(NamedTuple):
    """One block Metropolis-Hastings update of every chain."""

    x: torch.Tensor  # long [B, 1, H, W]: the chains after the update
    log_cond: torch.Tensor  # [B, levels, H*W]: their forward log conditionals
    log_ratio: torch.Tensor  # float64 [B]: log of the Metropolis-Hastings ratio
    accepted: torch.Tensor  # bool [B]
    changed: torch.Tensor  # float64 [B]: fraction of the block's pixels whose value changed


def passes(proposal: str, block: tuple[int, int]) -> dict[str, int]:
    """What one update costs, in passes of the batch: full forward passes of each model, and the pixel
    steps of the incremental sampler (each far cheaper than a pass)."""
    a, b = block
    if proposal == "forward" and b - a == 1:
        return {"forward": 1, "reverse": 0, "sampler_steps": 0}
    return {"forward": 1, "reverse": int(proposal == "reverse"), "sampler_steps": b - a}


def block_update(model: PixelCNNBase, reverse: PixelCNNBase | None, x: torch.Tensor, log_cond: torch.Tensor,
                 block: tuple[int, int], proposal: str, generator: torch.Generator, known_from: int | None = None,
                 beta: float | torch.Tensor = 1.0) -> BlockUpdate:
    """Propose raster pixels [a, b) of every chain x [B, 1, H, W] from ``proposal`` ("forward" or "reverse")
    and accept with the exact Metropolis-Hastings ratio; ``log_cond`` is the chains' current forward pass.
    ``known_from`` and ``beta`` make the target the tempered one of ``smc`` (``mcmc.later_log_ratio``)."""
    a, b = block
    n, size = len(x), x[0].numel()
    if not 0 <= a < b <= size or proposal not in PROPOSALS:
        raise ValueError(f"need a block 0 <= a < b <= {size} and a proposal in {PROPOSALS}; got {block}, {proposal}")
    if proposal == "forward" and b - a == 1:  # the single-site move: its proposal is in the current pass
        step = mcmc.update(model, x, log_cond, a, generator, known_from, beta)
        changed = (step.x.view(n, -1)[:, a] != x.view(n, -1)[:, a]).double()
        return BlockUpdate(step.x, step.log_cond, step.log_ratio, step.accepted, changed)
    if proposal == "forward":
        drawn = sample(model, images=x, start=a, stop=b, generator=generator)
    else:
        if reverse is None:
            raise ValueError("reverse proposals need the reverse-order model")
        drawn = inf.rotate(sample(reverse, images=inf.rotate(x), start=size - b, stop=size - a, generator=generator))
    x_new = x.clone(memory_format=torch.contiguous_format)
    x_new.view(n, -1)[:, a:b] = drawn.reshape(n, -1)[:, a:b]
    log_cond_new = mcmc.log_conditionals(model, x_new)
    first = b if proposal == "forward" else a  # the forward factors that do not cancel with the proposal
    log_ratio = mcmc.later_log_ratio(log_cond_new, x_new, log_cond, x, first, known_from, beta)
    if proposal == "reverse":  # + log q(x_B | rest) - log q(x'_B | rest), both from one pass of the reverse model
        log_q = inf.pixel_log_probs(reverse, inf.rotate(torch.cat([x, x_new])))[:, size - b:size - a]
        log_q = log_q.double().sum(1)
        log_ratio = log_ratio + log_q[:n] - log_q[n:]
    accepted = mcmc.accept(log_ratio, generator)
    out = torch.where(accepted.view(n, 1, 1, 1), x_new, x)
    changed = (out.view(n, -1)[:, a:b] != x.view(n, -1)[:, a:b]).double().mean(1)
    return BlockUpdate(out, torch.where(accepted.view(n, 1, 1), log_cond_new, log_cond), log_ratio, accepted,
                       changed)


def row_blocks(known_from: int, width: int, rows: int) -> list[tuple[int, int]]:
    """The prefix 0..known_from-1 cut into blocks of ``rows`` image rows (the last one shorter), top first."""
    step = rows * width
    return [(a, min(a + step, known_from)) for a in range(0, known_from, step)]


@dataclass(frozen=True)
class BlockChains:
    """B chains after S sweeps of ``chains``; M moves per sweep, the single-site ones pooled as the last."""

    samples: torch.Tensor  # long [S // thin, B, 1, H, W]: the states after every thin-th sweep
    log_p: torch.Tensor  # float64 [S, B]: log p(x) in nats after each sweep
    moves: list = resume.kept()  # M names: "<proposal> a-b" per scheduled block, then "site" (the random
    #   single-site updates)
    acceptance: torch.Tensor  # float64 [S, M, B]: fraction of the move's proposals accepted in the sweep
    changed: torch.Tensor  # float64 [S, M, B]: mean fraction of its block's pixels that changed
    seconds: torch.Tensor = resume.summed()  # float64 [M]: seconds spent on each move over all sweeps
    passes: torch.Tensor = resume.kept()  # long [M, 3]: per sweep, forward passes, reverse passes and sampler
    #   steps of each move (the "site" row: the random single-site updates and the tracked pixel's)
    pixel: int | None = resume.kept()  # the tracked raster pixel (updated once per sweep by a single-site move)
    values: torch.Tensor | None  # long [S, B]: its value after each sweep
    recycled: torch.Tensor | None  # float64 [S, B, levels]: E[its indicator after its update | current, proposed]


def chains(model: PixelCNNBase, reverse: PixelCNNBase | None, images: torch.Tensor, known_from: int, sweeps: int,
           generator: torch.Generator, *, schedule: list[tuple[str, int, int]], sites: int = 0,
           pixel: int | None = None, thin: int = 1, beta: float | torch.Tensor = 1.0) -> BlockChains:
    """Run one chain per image [B, 1, H, W] over the raster prefix 0..known_from-1; the other pixels stay fixed.

    A sweep applies every (proposal, a, b) of ``schedule`` in order, then ``sites`` single-site updates at
    unknown pixels drawn uniformly, then (with ``pixel``) a single-site update of that pixel, recorded as
    ``mcmc`` does. To continue a run, start again from its last samples (one extra pass). With ``beta`` (a
    number or one per chain [B]) the chains target ``smc``'s tempered p(x_<k) p(x_>=k | x_<k)^beta."""
    check_images(images, model.levels)
    if any(not 0 <= a < b <= known_from for _, a, b in schedule) or sites < 0 or sweeps < 1 or thin < 1:
        raise ValueError(f"need blocks inside 0..{known_from - 1}, sites >= 0, sweeps >= 1, thin >= 1")
    if pixel is not None and not 0 <= pixel < known_from:
        raise ValueError(f"the tracked pixel {pixel} must be unknown (below {known_from})")
    n, levels = len(images), model.levels
    names = [f"{p} {a}-{b}" for p, a, b in schedule] + ["site"]
    cost = [list(passes(p, (a, b)).values()) for p, a, b in schedule] + [[sites + (pixel is not None), 0, 0]]
    was_training = model.training
    model.eval()
    x = images.clone(memory_format=torch.contiguous_format).long()
    log_cond = mcmc.log_conditionals(model, x)
    out: dict[str, list] = {"samples": [], "log_p": [], "acceptance": [], "changed": [], "values": [], "recycled": []}
    seconds = torch.zeros(len(names), dtype=torch.float64)
    for s in range(sweeps):
        acceptance = torch.zeros(len(names), n, dtype=torch.float64)
        changed = torch.zeros(len(names), n, dtype=torch.float64)
        for m, (proposal, a, b) in enumerate(schedule):
            clock = time.perf_counter()
            step = block_update(model, reverse, x, log_cond, (a, b), proposal, generator, known_from, beta)
            x, log_cond = step.x, step.log_cond
            acceptance[m], changed[m] = step.accepted.double(), step.changed
            seconds[m] += time.perf_counter() - clock
        clock = time.perf_counter()
        for j in torch.randint(0, known_from, (sites,), generator=generator, device=generator.device).tolist():
            step = block_update(model, None, x, log_cond, (j, j + 1), "forward", generator, known_from, beta)
            x, log_cond = step.x, step.log_cond
            acceptance[-1] += step.accepted.double() / sites
            changed[-1] += step.changed / sites
        seconds[-1] += time.perf_counter() - clock
        if pixel is not None:
            current = x.view(n, -1)[:, pixel]
            step = mcmc.update(model, x, log_cond, pixel, generator, known_from, beta)
            x, log_cond = step.x, step.log_cond
            out["recycled"].append(mcmc.recycled_indicator(step, current, levels))
            out["values"].append(x.view(n, -1)[:, pixel])
        out["acceptance"].append(acceptance)
        out["changed"].append(changed)
        out["log_p"].append(mcmc.own_log_probs(log_cond, x).double().sum(1))
        if (s + 1) % thin == 0:
            out["samples"].append(x)
    model.train(was_training)

    def stack(name: str) -> torch.Tensor | None:
        return torch.stack(out[name]) if out[name] else None

    return BlockChains(stack("samples") if out["samples"] else x.new_zeros(0, *x.shape), stack("log_p"), names,
                       stack("acceptance"), stack("changed"), seconds, torch.tensor(cost), pixel, stack("values"),
                       stack("recycled"))


concatenate = resume.concatenate  # joins runs of consecutive chunks


def run_resumable(model: PixelCNNBase, reverse: PixelCNNBase | None, starts: torch.Tensor, known_from: int,
                  sweeps: int, chunk: int, generator: torch.Generator, checkpoint: Path, *, report=None,
                  **options) -> BlockChains:
    """``chains`` in chunks of ``chunk`` sweeps, saved to ``checkpoint`` (with the generator's state) after each,
    so a killed run resumes where it stopped with the same random numbers (``resume.run_in_chunks``).
    ``report(run)`` is called after every chunk with the chains so far; ``options`` go to ``chains``."""
    def run_chunk(x: torch.Tensor) -> BlockChains:
        return chains(model, reverse, x, known_from, chunk, generator, thin=chunk, **options)

    def done(parts: list[BlockChains], seconds: float) -> None:
        if report is not None:
            report(concatenate(parts))

    return resume.run_in_chunks(run_chunk, BlockChains, starts, sweeps, chunk, generator, checkpoint,
                                after_chunk=done)[0]
