"""What Q3's tempering runs on MNIST say (``tempering_runs``): how many steps they took, how their moves behave as
the temperature rises, what each run answers and how far the runs of different seeds are apart (the findings of
chapter 3's "Tempering on MNIST"; claims: ``claims``).

Every function reads the runs handed to it (``tempering_runs.runs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics
from .mcmc_runs import moves_by_kind
from .setting import question_setting

if TYPE_CHECKING:
    from .tempering_runs import Tempered


@dataclass(frozen=True)
class TemperingFindings:
    """R tempering runs (one per seed) of one question over the same N conditioning images."""

    question: str
    indices: tuple  # the conditioning images' test-set indices
    seeds: tuple
    particles: int  # n per image
    betas: list  # R tensors [T_r + 1, N]: the temperatures
    log2_evidence: torch.Tensor  # [R, N]: log2 p(given pixels)
    final_ess: torch.Tensor  # [R, N]: effective sample size of the final weights, a fraction of n
    hamming: torch.Tensor  # [R, N]: mean Hamming distance between a run's particles (``Tempered.hamming``)
    posterior: torch.Tensor  # (d) [R, N, 256]: the middle pixel's posterior (empty for (g))
    moves: list  # M names of the moves of a sweep (``blocks.chains``)
    acceptance: list  # R tensors [T_r, M, N]
    changed: list  # R tensors [T_r, M, N]
    passes: torch.Tensor  # long [M, 3]: per sweep, forward and reverse passes and sampler steps of each move
    sweeps: int  # sweeps per step
    sites: int  # single-site updates per sweep
    known_from: int  # the first given raster pixel (the unknown ones are 0..known_from-1)
    seconds: torch.Tensor  # [R]

    @property
    def steps(self) -> torch.Tensor:
        """The tempering steps each run took to reach beta = 1 on each image, long [R, N]."""
        return torch.stack([(b[1:] < 1).sum(0) + 1 for b in self.betas])

    def seed_tv(self) -> torch.Tensor:
        """(d) the largest total variation between two runs' posteriors, per image [N]."""
        p = self.posterior
        return torch.stack([diagnostics.total_variation(p[:, None, k], p[None, :, k]).max() for k in range(p.shape[1])])

    def seed_w1(self) -> torch.Tensor:
        """(d) the largest Wasserstein-1 distance (levels) between two runs' posteriors, per image [N]."""
        p = self.posterior
        return torch.stack([diagnostics.wasserstein(p[:, None, k], p[None, :, k]).max() for k in range(p.shape[1])])

    def evidence_gap(self) -> torch.Tensor:
        """The largest minus the smallest log2 evidence over the runs, per image [N] (bits)."""
        return self.log2_evidence.max(0).values - self.log2_evidence.min(0).values

    def kind_traces(self, measure: str) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Per kind of move, (the temperature, the measure) of every run and image along the steps: the mean of
        ``measure`` ("acceptance" or "changed") over the moves of the kind, against the temperature the step
        moved at."""
        return {kind: [(b[1:, k], v[:, m, k].mean(1)) for b, v in zip(self.betas, getattr(self, measure), strict=True)
                       for k in range(b.shape[1])] for kind, m in moves_by_kind(self.moves).items()}

    def by_kind(self, measure: str, step: int) -> dict[str, torch.Tensor]:
        """``measure`` ("acceptance" or "changed") at one tempering step of every run (0: the first, -1: the last,
        at beta = 1), per kind of move: the mean over its moves, [R, N]."""
        return {kind: torch.stack([v[step, m].mean(0) for v in getattr(self, measure)])
                for kind, m in moves_by_kind(self.moves).items()}

    def step_cost(self) -> torch.Tensor:
        """Passes of one image per particle and step [3]: forward (the likelihood pass and the moves), reverse,
        sampler steps."""
        return self.passes.sum(0).double() * self.sweeps + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)

    def cost_per_image(self) -> tuple[float, float, float]:
        """Forward passes, reverse passes and sampler steps per conditioning image and run (mean over the runs):
        the prior draws, every step's likelihood pass and moves, and for (d) the posterior's 256 passes per
        particle."""
        steps = float(torch.tensor([len(a) for a in self.acceptance], dtype=torch.float64).mean())
        forward, reverse, sampler = (self.particles * steps * self.step_cost()).tolist()
        posterior = 256 * self.particles if self.question == "d" else 0
        return forward + posterior, reverse, sampler + self.particles * self.known_from


def tempering_findings(runs: list[Tempered]) -> TemperingFindings:
    """``TemperingFindings`` from the runs of one question, one per seed."""
    first = runs[0]

    def stack(name: str) -> torch.Tensor:
        return torch.stack([getattr(r, name) for r in runs])

    weights = torch.stack([r.log_weights.exp() for r in runs])
    return TemperingFindings(
        first.inputs["question"], tuple(first.inputs["images"]), tuple(r.inputs["seed"] for r in runs),
        first.inputs["particles"], [r.betas for r in runs], stack("log_evidence") / math.log(2),
        1 / (weights ** 2).sum(-1) / weights.shape[-1],
        torch.stack([r.hamming() for r in runs]),
        stack("pixel_posterior").double(),
        first.moves, [r.acceptance for r in runs], [r.changed for r in runs], first.passes,
        first.sweeps, first.inputs["sites"], question_setting(first.inputs["question"]).known_from,
        torch.tensor([r.seconds for r in runs]))


def between_runs_rhat(log_p: torch.Tensor) -> torch.Tensor:
    """Per image, the rank-normalised R-hat of log p(x) [R, N, n] with each run's draws as one chain, taken in a
    random order (seeded) so that the halves ``diagnostics.rank_rhat`` splits them into are random halves: near 1 when
    the runs' draws look like draws of one distribution, as for converged chains."""
    order = torch.randperm(log_p.shape[-1], generator=torch.Generator().manual_seed(0))
    return torch.tensor([diagnostics.rank_rhat(log_p[:, k, order].T) for k in range(log_p.shape[1])])


def particles_study(full: TemperingFindings, full_rhat: torch.Tensor, fewer_log2_p: dict[str, torch.Tensor],
                    runs: Callable[[str, int], list[Tempered]]) -> dict[str, dict]:
    """The (d) runs by particles per image: "found" and "rhat", n -> the runs' findings and their R-hat between
    runs, from the full runs' (``full``, ``full_rhat``), the log2 p of the fewer-particle runs' draws
    (``Scores.fewer_particles``) and ``runs`` (``tempering_runs.runs``)."""
    found = {int(n): tempering_findings(runs("d", int(n))) for n in fewer_log2_p} | {full.particles: full}
    rhat = {int(n): between_runs_rhat(v) for n, v in fewer_log2_p.items()} | {full.particles: full_rhat}
    return {"found": found, "rhat": rhat}


def evidence_rise(found: dict[int, TemperingFindings]) -> torch.Tensor:
    """The runs' mean log2 evidence with the most particles minus with the fewest, per image [N] (bits)."""
    fewest, most = found[min(found)], found[max(found)]
    return most.log2_evidence.mean(0) - fewest.log2_evidence.mean(0)


def by_particles(found: dict[int, TemperingFindings], rhat: dict[int, torch.Tensor]) -> pd.DataFrame:
    """(d) tempering runs by the particles per image (``found``/``rhat``: n -> the runs' findings / their
    ``between_runs_rhat``): per image, the runs' mean log2 evidence, the R-hat between them, the gap between their
    evidence and their answers' largest total variation; the minutes a run took."""
    def cells(v: torch.Tensor, fmt: str) -> str:
        return " / ".join(format(float(x), fmt) for x in v)

    return pd.DataFrame([{"particles": n, "log2 evidence (mean of runs)": cells(f.log2_evidence.mean(0), ".1f"),
                          "R-hat between runs": cells(rhat[n], ".2f"),
                          "evidence gap (bits)": cells(f.evidence_gap(), ".1f"),
                          "TV between runs": cells(f.seed_tv(), ".2f"),
                          "minutes a run": float(f.seconds.mean()) / 60} for n, f in sorted(found.items())])


def kind_traces(found: dict[str, TemperingFindings], measure: str) -> dict[str, list]:
    """``TemperingFindings.kind_traces`` of every question's runs, pooled per kind of move."""
    out: dict[str, list] = {}
    for f in found.values():
        for kind, lines in f.kind_traces(measure).items():
            out.setdefault(kind, []).extend(lines)
    return out


def kind_means(found: dict[str, TemperingFindings], measure: str, step: int) -> dict[str, float]:
    """``TemperingFindings.by_kind`` of every question's runs, as the mean over the questions, runs and images."""
    values: dict[str, list] = {}
    for f in found.values():
        for kind, v in f.by_kind(measure, step).items():
            values.setdefault(kind, []).append(v.flatten())
    return {kind: float(torch.cat(v).mean()) for kind, v in values.items()}


def over_questions(found: dict[str, TemperingFindings], name: str) -> torch.Tensor:
    """A per-run-and-image field of every question's findings ("final_ess", "hamming", ...), flattened into one."""
    return torch.cat([getattr(f, name).flatten() for f in found.values()])
