"""Random numbers drawn where their generator is: the one device rule of the core.

Every random tensor of the core is drawn from a ``torch.Generator`` the caller gives, on that generator's
device (``torch.rand(..., generator=g, device=g.device)``; ``torch.multinomial`` of weights moved to
``g.device``), and then moved to where the data are. So the same code runs with the model on a GPU and a
generator made there (``generator(seed, device)``), and a CPU generator gives the same numbers wherever
the model runs.
"""

from __future__ import annotations

import torch


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (the CPU's by default)."""
    return torch.Generator(device=device).manual_seed(seed)


def or_default(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or torch's global CPU generator when it is None (what ``torch.rand`` uses without one)."""
    return torch.default_generator if generator is None else generator
