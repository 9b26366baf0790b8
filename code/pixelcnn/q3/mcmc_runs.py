"""Q3's (d) and (g) chains on MNIST with block moves (``blocks``) mixed with single-site moves.

``probe``: what each kind and size of block move does on the report's images (acceptance, the fraction of
pixels that change, seconds), from the report's three starts. ``chains``: the chains of question "d" or "g"
with the chosen schedule, cached and resumable, with the rank-normalised split R-hat of log p(x) across
the starts of each image recorded as the sweeps go.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass

import pandas as pd
import torch

from ..core import blocks, diagnostics
from ..core import inference as inf
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, identity, load_identity
from . import HALF, MIDDLE, MIDDLE_INDEX, MODEL, SIZE, STARTS
from .starts import chain_setup, starting_states


def question_setting(question: str) -> tuple[list[int], int, int]:
    """The conditioning test images, the first known raster pixel and the tracked pixel (or None) of a question."""
    images = budget()["mcmc"]["d_images"] if question == "d" else budget()["q3_images"]
    return list(images), (MIDDLE_INDEX + 1 if question == "d" else HALF), (MIDDLE_INDEX if question == "d" else None)


def probe(question: str, rows: tuple[int, ...] = (1, 2, 4, 14), sweeps: int = 2, seed: int = 0) -> pd.DataFrame:
    """Per proposal and block height (rows): one schedule of blocks covering the unknown pixels, run for
    ``sweeps`` sweeps from the report's starts (3 chains per start and image). Not cached: a measurement."""
    model, reverse = load_identity(identity(MODEL)), load_identity(identity("reverse"))
    images, known_from, _ = question_setting(question)
    x = load_images("test")[images].long()
    starts = starting_states(model, reverse, x, known_from, budget()["mcmc"]["chains_per_start"],
                             torch.Generator().manual_seed(seed))
    table = []
    for proposal in blocks.PROPOSALS:
        for r in rows:
            schedule = [(proposal, a, b) for a, b in blocks.row_blocks(known_from, SIZE[1], r)]
            run = blocks.chains(model, reverse, starts, known_from, sweeps, torch.Generator().manual_seed(seed),
                                schedule=schedule)
            sizes = torch.tensor([b - a for _, a, b in schedule], dtype=torch.float64)
            moved = (run.changed[:, :-1] * sizes.view(1, -1, 1)).sum(1) / known_from  # [S, B]
            per_start = run.acceptance[:, :-1].mean((0, 1)).view(len(images), len(STARTS), -1).mean((0, 2))
            table.append({"proposal": proposal, "rows": r, "moves per sweep": len(schedule),
                          "acceptance": float(run.acceptance[:, :-1].mean()),
                          "acceptance by start": " / ".join(f"{a:.2f}" for a in per_start.tolist()),
                          "pixels changed per move": float(run.changed[:, :-1].mean()),
                          "unknown pixels changed per sweep": float(moved.mean()),
                          "seconds per move": float(run.seconds[:-1].sum()) / (sweeps * len(schedule)),
                          "log2 p gain per sweep": float((run.log_p[-1] - inf.log_prob(model, starts).double())
                                                         .mean() / math.log(2) / sweeps)})
            print(table[-1], flush=True)
    return pd.DataFrame(table)


@dataclass(frozen=True)
class BlockChains:
    """The block-move chains of one question: B = images x starts x chains, M moves per sweep, S sweeps."""

    inputs: dict  # ``chains.inputs(question)``: the models, the images, the schedule, sites, sweeps, the seed
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


def _chains_inputs(question: str, seed: int = 0) -> dict:
    """Everything the block chains of question "d" or "g" depend on."""
    b = budget()["blocks"]
    images, _, _ = question_setting(question)
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": images, "chains_per_start": budget()["mcmc"]["chains_per_start"],
            "schedule": [list(move) for move in b["schedule"]], "sites": b["sites"], "sweeps": b["sweeps"],
            "chunk": b["chunk"], "seed": seed}




def rhats(log_p: torch.Tensor, images: int) -> list[float]:
    """Rank-normalised split R-hat of a log p(x) trace [S, images * chains] over all chains of each image (every
    start)."""
    trace = log_p
    return [diagnostics.rank_rhat(t) for t in trace.view(len(trace), images, -1).unbind(1)]


@cache.declare("q3-block-chains", BlockChains, _chains_inputs, cases=(("d",), ("g",)))
def chains(inputs: dict) -> dict:
    """The block chains of question "d" or "g" (resumable; hours on a CPU)."""
    clock = time.perf_counter()
    model, reverse, generator, middle, known_from, x, starts = chain_setup(inputs)
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
                               pixel=middle if inputs["question"] == "d" else None)
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


# --- What the chains say -----------------------------------------------------------------------------


def start_table(c: BlockChains, burn_in: int) -> pd.DataFrame:
    """Per image and start: mean log2 p(x) at the start and after the last sweep, and for (d) the chains'
    recycled estimate of the middle pixel after ``burn_in`` (P(black) and the mean level)."""
    n, rows = len(c.images), []
    per = c.log_p.shape[1] // n // len(STARTS)
    for k in range(n):
        for i, start in enumerate(STARTS):
            cols = slice((k * len(STARTS) + i) * per, (k * len(STARTS) + i + 1) * per)
            row = {"image": k, "start": start, "log2 p at start": float(c.start_log_p[cols].mean() / math.log(2)),
                   "log2 p last": float(c.log_p[-1, cols].mean() / math.log(2))}
            if len(c.recycled):
                p = c.recycled[burn_in:, cols].reshape(-1, c.recycled.shape[-1]).mean(0)
                row |= {"P(black)": float(p[0]), "mean level": float((p * torch.arange(len(p))).sum())}
            rows.append(row)
    return pd.DataFrame(rows)
