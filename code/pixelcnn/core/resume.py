"""Long Monte Carlo runs in resumable chunks: one loop and one way to join the chunks, for every kind of chain.

A run of S sweeps is made of chunks of ``chunk`` sweeps, each started from the last samples of the one
before. After every chunk the chunks so far and the generator's state are saved to a checkpoint, so a
killed run, started again with the same arguments, resumes where it stopped with the same random numbers
and gives the same result as a run that was never stopped.

A chunk is a frozen dataclass with a ``samples`` field [K, B, ...] (the states kept; the last one starts
the next chunk); ``concatenate`` joins chunks field by field, by each field's ``join`` metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")

# How ``concatenate`` joins a field of consecutive chunks: ``field(metadata=SUM)`` adds them (costs),
# ``FIRST`` keeps the first chunk's (settings); any other field is concatenated along its first dimension.
SUM, FIRST = {"join": "sum"}, {"join": "first"}


def summed() -> Any:
    """A dataclass field that ``concatenate`` sums over chunks."""
    return field(metadata=SUM)


def kept() -> Any:
    """A dataclass field that ``concatenate`` takes from the first chunk."""
    return field(metadata=FIRST)


def concatenate(parts: list[T]) -> T:
    """One run from consecutive chunks of the same chains (each started from the last samples of the one before):
    tensors concatenated along their first dimension (None stays None), ``summed`` fields added, ``kept``
    fields taken from the first chunk."""
    def join(f) -> Any:
        items = [getattr(p, f.name) for p in parts]
        how = f.metadata.get("join", "cat")
        if how == "first" or items[0] is None:
            return items[0]
        return sum(items[1:], items[0]) if how == "sum" else torch.cat(items)

    return type(parts[0])(**{f.name: join(f) for f in fields(parts[0])})


def save(checkpoint: Path, state: dict) -> None:
    """Save ``state`` to ``checkpoint`` atomically (a killed save leaves the previous checkpoint)."""
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, checkpoint.with_suffix(".tmp"))
    checkpoint.with_suffix(".tmp").replace(checkpoint)


def run_in_chunks(run_chunk: Callable[[torch.Tensor], T], chunk_type: type[T], starts: torch.Tensor, sweeps: int,
                  chunk: int, generator: torch.Generator, checkpoint: Path, *,
                  after_chunk: Callable[[list[T], float], None] | None = None) -> tuple[T, float]:
    """``run_chunk(x)`` (``chunk`` sweeps from states x, drawing from ``generator``) repeated from ``starts`` until
    ``sweeps`` sweeps are done, saved to ``checkpoint`` with the generator's state after every chunk and resumed
    from it. ``after_chunk(parts, seconds)`` is called after each chunk. Returns the joined run and the seconds
    spent over all sessions."""
    if sweeps % chunk:
        raise ValueError(f"sweeps ({sweeps}) must be a multiple of chunk ({chunk})")
    parts, seconds = [], 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        parts, seconds = [chunk_type(**p) for p in state["parts"]], state.get("seconds", 0.0)
        generator.set_state(state["generator"])
    while len(parts) * chunk < sweeps:
        clock = time.perf_counter()
        parts.append(run_chunk(parts[-1].samples[-1] if parts else starts))
        seconds += time.perf_counter() - clock
        save(checkpoint, {"parts": [asdict(p) for p in parts], "seconds": seconds, "generator": generator.get_state()})
        if after_chunk is not None:
            after_chunk(parts, seconds)
    return concatenate(parts), seconds
