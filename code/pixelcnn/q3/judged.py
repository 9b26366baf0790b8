"""How Q3's single-site MCMC chains are read: the burn-in, the chains' (d) estimate, their log p traces and
the table of the (g) measures (the findings built on them: ``mcmc_findings``,
``d_judged``, ``g_judged``).

Every function reads results (``chains``) handed to it and the reading budget (the burn-in).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import mcmc
from ..study.runs import budget
from . import STARTS

if TYPE_CHECKING:
    from .chains import HardChains


def burn_in() -> int:
    """Sweeps discarded from the start of every chain."""
    return budget()["mcmc"]["burn_in"]


def d_reference(c: HardChains, start: str | None = None) -> torch.Tensor:
    """The chains' estimate of (d) per image [N, 256]: the middle pixel's full conditionals averaged over the
    chains (of one start, or all) and the sweeps after the burn-in (Rao-Blackwellised)."""
    kept = mcmc.full_conditionals_between(c.full_conditionals, c.every, burn_in())
    return torch.stack([c.group(kept, k, start).reshape(-1, kept.shape[-1]).mean(0) for k in range(len(c.images))])


def g_diagnosis(measures: dict[str, dict[str, torch.Tensor]], indices: tuple[int, ...]) -> pd.DataFrame:
    """``g_measures`` as a table: one row per measure and method, one column per conditioning image."""
    return pd.DataFrame([{"measure": f"{measure}: {name}",
                          **{f"test #{i}": format(v, ".3f" if measure == "ink" else ".0f")
                             for i, v in zip(indices, values.tolist(), strict=True)}}
                         for measure, by_method in measures.items() for name, values in by_method.items()])


def traces(c: HardChains) -> torch.Tensor:
    """log2 p(x) of every chain from its start through every sweep: [S + 1, N, starts, chains]."""
    t = torch.cat([c.start_log_p.unsqueeze(0), c.log_p]) / math.log(2)
    return t.view(len(t), len(c.images), len(STARTS), -1)
