"""The named runs of the report and ``load(name)``.

``q1`` is the chosen simple configuration, ``q2`` the same recipe with the non-causal first layer,
``search-*`` the equal-budget configuration search of Q1. With the environment variable
``PIXELCNN_PROFILE=smoke`` every run becomes a tiny one (a few steps on a few images), so the
whole pipeline can be exercised quickly from an empty cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from . import cache
from .config import Config

SEARCH_STEPS = 200
SEARCH = {
    "search-base": Config(layers=5, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-deep": Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-kernel5": Config(layers=5, channels=64, kernel_size=5, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-wide": Config(layers=5, channels=96, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-plain": Config(layers=5, channels=64, kernel_size=3, first_kernel_size=3, residual=False,
                           max_steps=SEARCH_STEPS),
}
Q1 = Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=391 * 6, lr=2e-3)
# Tiny models on 3x3 binary images, small enough to enumerate all 512 images exactly (Q2).
TINY = Config(image_size=3, levels=2, channels=16, layers=2, kernel_size=3, first_kernel_size=3, batch_size=256,
              max_steps=300, warmup_steps=20, lr=5e-3, precision="32-true")
RUNS = {**SEARCH, "q1": Q1, "q2": Q1.replace(arch="noncausal"),
        "tiny-causal": TINY, "tiny-noncausal": TINY.replace(arch="noncausal")}

SMOKE = {"train_images": 256, "eval_images": 128, "batch_size": 32, "max_steps": 8, "warmup_steps": 2,
         "channels": 8, "precision": "32-true"}


def profile() -> str:
    """``full`` (default) or ``smoke``, from the environment variable PIXELCNN_PROFILE."""
    value = os.environ.get("PIXELCNN_PROFILE", "full")
    if value not in ("full", "smoke"):
        raise ValueError(f"PIXELCNN_PROFILE must be 'full' or 'smoke', got {value!r}")
    return value


def config(name: str) -> Config:
    """The config of the named run under the current profile."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; known runs: {', '.join(RUNS)} (and 'pretrained' for load)")
    run = RUNS[name]
    return run.replace(**SMOKE, layers=min(run.layers, 2)) if profile() == "smoke" else run


def command(name: str) -> str:
    """The shell command that computes the named run."""
    return f"python -m pixelcnn train {name}"


def trained(name: str) -> cache.Entry:
    """The cache entry of a named run; trains it only when PIXELCNN_TRAIN=1, else names the command."""
    from .training import train

    run = config(name)
    entry = cache.lookup("train", run.to_dict())
    if entry is None and os.environ.get("PIXELCNN_TRAIN") == "1":
        entry = train(run)
    return entry or cache.require("train", run.to_dict(), command(name))


def cached_tensors(kind: str, key: dict, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Tensors computed by ``compute()`` (cheap given trained models), cached under (kind, key)."""

    def produce(folder) -> dict:
        torch.save(compute(), folder / "tensors.pt")
        return {}

    entry = cache.lookup(kind, key) or cache.write(kind, key, produce)
    return torch.load(entry.path("tensors.pt"), weights_only=True)


def samples(name: str, n: int = 64, seed: int = 0) -> torch.Tensor:
    """``n`` unconditional samples of a named model (fast exact sampler), cached."""
    from .sampling import sample

    key = {"model": name if name == "pretrained" else config(name).to_dict(), "n": n, "seed": seed}
    compute = lambda: {"samples": sample(load(name), n, generator=torch.Generator().manual_seed(seed),  # noqa: E731
                                         progress=True)}
    return cached_tensors("samples", key, compute)["samples"]


def load(name: str) -> torch.nn.Module:
    """A trained model in eval mode on CPU: 'pretrained' (the course's) or a named run ('q1', 'q2', ...)."""
    if name == "pretrained":
        from .pretrained import load_pretrained

        return load_pretrained()
    from .training import load_trained

    trained(name)
    return load_trained(config(name), command(name))
