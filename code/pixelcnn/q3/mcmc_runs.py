"""Q3's MCMC chains of (d) and (g) on MNIST: cached results, each declared once (``cache.declare``) and carrying
its inputs.

Three starts per conditioning image, in the order of ``STARTS``: the test image itself (if the model fits the
data, its unknown pixels are close to a draw from the target, so these chains start near stationarity), the
reverse model's completions, and the forward model's own samples that ignore the given pixels; both kinds of
chain start from the same states with the same random numbers (``chain_setup``). ``single_site_chains``:
Metropolis-within-Gibbs chains (``core.mcmc``). ``block_move_chains``: block moves (``core.blocks``) mixed with
single-site moves, with the rank-normalised split R-hat of log p(x) across the starts of each image recorded as
the sweeps go. Both are resumable. ``moves_by_kind``: the block moves grouped by kind.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..core import blocks, diagnostics, mcmc
from ..core import estimators as est
from ..core import inference as inf
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, identity, load_identity
from .setting import MIDDLE, MODEL, SIZE, STARTS, question_setting


def starting_states(model: torch.nn.Module, reverse: torch.nn.Module, x: torch.Tensor, known_from: int, n: int,
                    generator: torch.Generator) -> torch.Tensor:
    """n starting states per image of x [N, 1, 28, 28] and start of ``STARTS``: [N * 3 * n, 1, 28, 28], image-major."""
    return torch.cat([torch.cat([x[k:k + 1].repeat(n, 1, 1, 1),
                                 est.sample_before(reverse, x[k:k + 1], known_from, n, generator),
                                 est.prior_starts(model, x[k:k + 1], known_from, n, generator)])
                      for k in range(len(x))])


class ChainSetup(NamedTuple):
    """What every MCMC run of (d) or (g) starts from, made from its inputs (the generator already used)."""

    model: torch.nn.Module
    reverse: torch.nn.Module
    generator: torch.Generator
    tracked: int | None  # raster index of the pixel whose full conditionals the chains record ((d): the middle)
    known_from: int  # the first given pixel: pixels 0 .. known_from - 1 are updated
    images: torch.Tensor  # long [N, 1, 28, 28]: the test images
    starts: torch.Tensor  # [N * 3 * n, 1, 28, 28]: ``starting_states``


def chain_setup(inputs: dict) -> ChainSetup:
    """The models, the generator, the unknown pixels and the three starts of a run's ``inputs``."""
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    _, known_from, tracked = question_setting(inputs["question"])
    x = load_images("test")[inputs["images"]].long()
    starts = starting_states(model, reverse, x, known_from, inputs["chains_per_start"], generator)
    return ChainSetup(model, reverse, generator, tracked, known_from, x, starts)


@dataclass(frozen=True)
class SingleSiteChains:
    """The single-site chains of one question: B = images x starts x chains, in that order."""

    inputs: dict  # ``single_site_chains.inputs(question)``: the models, the question, the images, the budget
    images: torch.Tensor  # long [N, 1, 28, 28]: the conditioning test images
    starts: torch.Tensor  # uint8 [B, 1, 28, 28]: the starting states
    samples: torch.Tensor  # uint8 [S, B, 1, 28, 28]: the state after every sweep
    acceptance: torch.Tensor  # [S, B]: fraction of each sweep's proposals accepted
    log_p: torch.Tensor  # [S, B]: log p(x) in nats after every sweep
    start_log_p: torch.Tensor  # [B]: log p(x) of the starting states
    full_conditionals: torch.Tensor  # (d) [S // every, B, 256]: p(x_middle | all others) along the chains
    recycled: torch.Tensor  # (d) [S, B, 256]: each update's expected next middle value
    every: int  # the full conditionals follow sweeps every-1, 2 every-1, ...
    passes: int  # forward passes of the batch
    seconds: float  # compute time, the starts included

    @property
    def indices(self) -> tuple[int, ...]:
        """The conditioning images' indices in the test set."""
        return tuple(self.inputs["images"])

    @property
    def per_image(self) -> int:
        return self.starts.shape[0] // len(self.images)

    def group(self, tensor: torch.Tensor, image: int, start: str | None = None) -> torch.Tensor:
        """The columns (dim 1) of ``tensor`` that belong to one image, and to one start if given."""
        chains = self.per_image // len(STARTS)
        first = image * self.per_image + (STARTS.index(start) * chains if start else 0)
        return tensor[:, first:first + (chains if start else self.per_image)]


def _single_site_inputs(question: str, seed: int = 0) -> dict:
    """Everything the single-site chains of question "d" or "g" depend on."""
    b = budget()["mcmc"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": question_setting(question).images, "chains_per_start": b["chains_per_start"],
            "sweeps": b["sweeps"], "chunk": b["chunk"], "seed": seed}


@cache.declare("q3-chains", SingleSiteChains, _single_site_inputs, cases=(("d",), ("g",)))
def single_site_chains(inputs: dict) -> dict:
    """The Metropolis-within-Gibbs chains (``mcmc``) of question "d" (unknown: pixels 0..middle) or "g" (unknown:
    the top half); resumable, about an hour on a CPU."""
    clock = time.perf_counter()
    model, _, generator, tracked, known_from, x, starts = chain_setup(inputs)
    start_seconds = time.perf_counter() - clock
    checkpoint = cache.work_folder("estimate", inputs) / "chains.pt"
    run, seconds = mcmc.run_resumable(model, starts, list(range(known_from)), inputs["sweeps"], inputs["chunk"],
                                      generator, checkpoint, pixel=tracked,
                                      progress=True)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    empty = torch.zeros(0)
    return {"images": x, "starts": starts.to(torch.uint8), "samples": run.samples.to(torch.uint8),
            "acceptance": run.acceptance, "log_p": run.log_p, "start_log_p": inf.log_prob(model, starts).double(),
            "full_conditionals": empty if run.full_conditionals is None else run.full_conditionals,
            "recycled": empty if run.recycled is None else run.recycled, "every": run.every, "passes": run.passes,
            "seconds": start_seconds + seconds}


@dataclass(frozen=True)
class BlockMoveChains:
    """The block-move chains of one question: B = images x starts x chains, M moves per sweep, S sweeps."""

    inputs: dict  # ``block_move_chains.inputs(question)``: the models, the images, the schedule, the seed
    images: torch.Tensor  # long [N, 1, 28, 28]
    starts: torch.Tensor  # uint8 [B, 1, 28, 28]
    samples: torch.Tensor  # uint8 [S, B, 1, 28, 28]: the state after every sweep
    log_p: torch.Tensor  # [S, B]: log p(x) in nats after every sweep
    start_log_p: torch.Tensor  # [B]
    moves: list[str]  # [M]: "<proposal> a-b" per block move, then "site"
    acceptance: torch.Tensor  # [S, M, B]
    changed: torch.Tensor  # [S, M, B]: fraction of the move's pixels that changed
    move_seconds: torch.Tensor  # [M]
    move_passes: torch.Tensor  # [M, 3]: forward, reverse and sampler passes
    values: torch.Tensor  # (d) the middle pixel's value after every sweep (empty for (g))
    recycled: torch.Tensor  # (d) [S, B, 256]: its recycled estimate (empty for (g))
    rhat_by_sweeps: torch.Tensor  # [C, 1 + N]: after c sweeps, the rank R-hat of the second half, per image
    seconds: float


def _block_inputs(question: str, seed: int = 0) -> dict:
    """Everything the block chains of question "d" or "g" depend on."""
    b = budget()["blocks"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": question_setting(question).images, "chains_per_start": budget()["mcmc"]["chains_per_start"],
            "schedule": [list(move) for move in b["schedule"]], "sites": b["sites"], "sweeps": b["sweeps"],
            "chunk": b["chunk"], "seed": seed}


def rhats(log_p: torch.Tensor, images: int) -> list[float]:
    """Rank-normalised split R-hat of a log p(x) trace [S, images * chains] over all chains of each image (every
    start)."""
    trace = log_p
    return [diagnostics.rank_rhat(t) for t in trace.view(len(trace), images, -1).unbind(1)]


@cache.declare("q3-block-chains", BlockMoveChains, _block_inputs, cases=(("d",), ("g",)))
def block_move_chains(inputs: dict) -> dict:
    """The block chains of question "d" or "g" (resumable; hours on a CPU)."""
    clock = time.perf_counter()
    model, reverse, generator, tracked, known_from, x, starts = chain_setup(inputs)
    schedule = [(p, a, b) for p, rows in inputs["schedule"]
                for a, b in blocks.row_blocks(known_from, SIZE[1], rows or SIZE[0])]
    history: list[list[float]] = []

    def report(run: blocks.BlockChains) -> None:
        s = len(run.log_p)
        history.append([s, *rhats(run.log_p[s // 2:], len(x))] if s - s // 2 >= 4 else [s, *[math.nan] * len(x)])
        print(f"blocks ({inputs['question']}): {s} sweeps, {float(run.seconds.sum()) / 60:.1f} min, rank R-hat of "
              f"log p (second half) per image: {' '.join(f'{r:.2f}' for r in history[-1][1:])}", flush=True)

    checkpoint = cache.work_folder("estimate", inputs) / "chains.pt"
    run = blocks.run_resumable(model, reverse, starts, known_from, inputs["sweeps"], inputs["chunk"], generator,
                               checkpoint, report=report, schedule=schedule, sites=inputs["sites"],
                               pixel=tracked)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    s = len(run.log_p)
    chunks = range(inputs["chunk"], s + 1, inputs["chunk"])
    curve = torch.tensor([[c, *rhats(run.log_p[c // 2:c], len(x))] for c in chunks if c - c // 2 >= 4],
                         dtype=torch.float64).view(-1, 1 + len(x))
    empty = torch.zeros(0)
    return {"images": x, "starts": starts.to(torch.uint8), "samples": run.samples.to(torch.uint8),
            "log_p": run.log_p, "start_log_p": inf.log_prob(model, starts).double(), "moves": run.moves,
            "acceptance": run.acceptance, "changed": run.changed, "move_seconds": run.seconds,
            "move_passes": run.passes, "values": empty if run.values is None else run.values,
            "recycled": empty if run.recycled is None else run.recycled, "rhat_by_sweeps": curve,
            "seconds": time.perf_counter() - clock}


# --- The kinds of block move -------------------------------------------------------------------------


def move_size(move: str) -> int:
    """The number of pixels of a move named "<proposal> a-b" ("site": 1)."""
    if move == "site":
        return 1
    a, b = move.split()[1].split("-")
    return int(b) - int(a)


def move_kinds(moves: list[str]) -> list[str]:
    """The kind of each move named "<proposal> a-b" or "site": "<proposal> rows" (a block of at most one image
    row), "<proposal> prefix" (the whole unknown region) or "site"."""
    return [name if name == "site" else f"{name.split()[0]} {'rows' if move_size(name) <= SIZE[1] else 'prefix'}"
            for name in moves]


def moves_by_kind(moves: list[str]) -> dict[str, list[int]]:
    """The indices of the moves of each kind (``move_kinds``), kinds in the order of the sweep."""
    kinds = move_kinds(moves)
    return {kind: [i for i, k in enumerate(kinds) if k == kind] for kind in dict.fromkeys(kinds)}
