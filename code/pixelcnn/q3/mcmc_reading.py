"""What Q3's single-site and block-move chains of (d) and (g) say (``mcmc_runs``): the burn-in, the chains'
(d) estimate and log p traces, the moves, R-hat, and the findings and tables of chapter 3's MCMC section (their
claims: ``claims``).

Every function reads results handed to it and the reading budget (the burn-in); R-hat is the rank-normalised
split R-hat of ``diagnostics.rank_rhat``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics, mcmc
from ..study.runs import budget
from .mcmc_runs import move_size, moves_by_kind
from .setting import STARTS, ink, question_setting

if TYPE_CHECKING:
    from .mcmc_runs import BlockMoveChains, SingleSiteChains

THRESHOLD = 1.01  # the rank-normalised split R-hat below which chains count as converged in current practice


def burn_in() -> int:
    """Sweeps discarded from the start of every chain."""
    return budget()["mcmc"]["burn_in"]


def d_reference(c: SingleSiteChains, start: str | None = None) -> torch.Tensor:
    """The chains' estimate of (d) per image [N, 256]: the middle pixel's full conditionals averaged over the
    chains (of one start, or all) and the sweeps after the burn-in (Rao-Blackwellised)."""
    kept = mcmc.full_conditionals_between(c.full_conditionals, c.every, burn_in())
    return torch.stack([c.group(kept, k, start).reshape(-1, kept.shape[-1]).mean(0) for k in range(len(c.images))])


def traces(c: SingleSiteChains) -> torch.Tensor:
    """log2 p(x) of every chain from its start through every sweep: [S + 1, N, starts, chains]."""
    t = torch.cat([c.start_log_p.unsqueeze(0), c.log_p]) / math.log(2)
    return t.view(len(t), len(c.images), len(STARTS), -1)


def changed_per_sweep(c: SingleSiteChains, known_from: int) -> torch.Tensor:
    """Fraction of the unknown pixels each single-site sweep changed, [S, B]: a sweep updates every unknown
    pixel once, so the pixels that differ from the state before it are exactly those whose update changed them."""
    states = torch.cat([c.starts.unsqueeze(0), c.samples]).flatten(2)[:, :, :known_from]
    return (states[1:] != states[:-1]).double().mean(2)


def move_table(c: BlockMoveChains) -> pd.DataFrame:
    """Per kind of move (forward one-row blocks, reverse whole-prefix moves, the single-site updates):
    how many per sweep, the acceptance rate, the fraction of the block's pixels that change, unknown pixels
    changed per sweep, seconds per move (all chains at once) and passes of the batch per move (forward, reverse,
    sampler steps)."""
    sweeps, rows, sites = len(c.log_p), [], c.inputs["sites"]
    sizes = [move_size(name) for name in c.moves]
    for kind, m in moves_by_kind(c.moves).items():
        count = len(m) if kind != "site" else sites
        pixels = sum(c.changed[:, i].mean() * (sizes[i] if kind != "site" else count) for i in m)
        rows.append({"move": kind, "per sweep": count, "acceptance": float(c.acceptance[:, m].mean()),
                     "fraction changed": float(c.changed[:, m].mean()), "pixels changed per sweep": float(pixels),
                     "seconds per move": float(c.move_seconds[m].sum()) / (sweeps * count),
                     "passes per move": " / ".join(f"{v:g}" for v in (c.move_passes[m].sum(0) / len(m)).tolist())})
    return pd.DataFrame(rows)


def per_start(c: BlockMoveChains, values: torch.Tensor) -> torch.Tensor:
    """Per-chain values [B, ...] of the block chains as means over the chains of each image and start:
    [N, starts, ...]."""
    return values.view(len(c.images), len(STARTS), -1, *values.shape[1:]).mean(2)


def block_estimates(c: BlockMoveChains, burn_in: int) -> torch.Tensor:
    """(d) by the block chains of each start: the tracked middle pixel's recycled indicators averaged over the
    chains of the start and the sweeps after ``burn_in``: [N, starts, 256]."""
    return per_start(c, c.recycled[burn_in:].mean(0))


@dataclass(frozen=True)
class ChainFindings:
    """The single-site and the block-move chains of (d) and (g), per question ("d", "g")."""

    indices: dict  # question -> the conditioning images' test-set indices
    unknown: dict  # question -> the number of unknown pixels
    single_acceptance: dict  # question -> acceptance after the burn-in, all chains
    single_changed: dict  # question -> fraction of the unknown pixels changed per sweep after the burn-in
    single_rhat: dict  # question -> rank-normalised split R-hat of log p over all chains of each image [N]
    test_start_moved: tuple  # (d): fewest and most unknown pixels a test-start chain ends up changing
    test_start_above: tuple  # single-site test-start chains whose mean log p ends above the test image's: (k, of)
    moves: dict  # question -> ``move_table``
    block_rhat: dict  # question -> the block chains' R-hat after the last sweep, per image [N]
    rhat_curve: dict  # question -> [checkpoints, 1 + N]: sweeps, then R-hat (second half of the sweeps) per image
    block_log2_p: dict  # question -> [N, starts] after the last sweep
    block_ink: dict  # question -> [N, starts]
    block_d: torch.Tensor  # [N, starts, 256]: (d) by the block chains of each start
    truth: dict  # question -> log2 p of the test images [N]
    test_ink: torch.Tensor  # (g) ink of the true tops [N]

    def falls(self) -> tuple[int, int]:
        """Images whose block R-hat at the last checkpoint is below its value at the first, and all images."""
        rows = [c[:, 1:] for c in self.rhat_curve.values()]
        return sum(int((r[-1] < r[0]).sum()) for r in rows), sum(r.shape[1] for r in rows)

    def near_empty_climbs(self) -> list[int]:
        """(g) images (positions) where the reverse-start block chains end above the test image's log2 p with
        less than half the true tops' ink."""
        rev = STARTS.index("reverse")
        above = self.block_log2_p["g"][:, rev] > self.truth["g"]
        thin = self.block_ink["g"][:, rev] < self.test_ink / 2
        return [k for k in range(len(above)) if above[k] and thin[k]]

    def lowest_rhat(self) -> float:
        """The smallest block R-hat at any checkpoint of any image."""
        return min(float(c[:, 1:].min()) for c in self.rhat_curve.values())


def rhat_curve(c) -> torch.Tensor:
    """The block chains' R-hat by sweeps [checkpoints, 1 + images]; a run too short for any checkpoint (the
    smoke profile) gives one row: its sweeps, and NaN for every image."""
    if len(c.rhat_by_sweeps):
        return c.rhat_by_sweeps
    return torch.tensor([[len(c.log_p), *[math.nan] * len(c.images)]], dtype=torch.float64)


def _rhat(trace: torch.Tensor) -> float:
    """``diagnostics.rank_rhat``, or NaN for chains too short to split (a smoke-profile run of one sweep)."""
    return diagnostics.rank_rhat(trace) if len(trace) >= 4 else math.nan


def chain_findings(single: dict[str, SingleSiteChains], block: dict[str, BlockMoveChains], truth: dict,
                   test_ink: torch.Tensor) -> ChainFindings:
    """``ChainFindings`` from the single-site and the block chains of each question (``mcmc_runs``), the test
    images' log2 p per question and the (g) test images' ink (``scores.Scores.truth``, ``Scores.test_ink``)."""
    unknown = {q: question_setting(q).known_from for q in single}
    kept = slice(burn_in(), None)
    changed = {q: changed_per_sweep(c, unknown[q]) for q, c in single.items()}
    d = single["d"]
    moved = torch.cat([(d.group(d.samples[-1:], k, "test-image")[0].flatten(1)[:, :unknown["d"]]
                        != d.images[k].flatten()[:unknown["d"]]).sum(1) for k in range(len(d.images))])
    above = [traces(c)[-1, :, STARTS.index("test-image")].mean(1) > truth[q] for q, c in single.items()]
    curves = {q: rhat_curve(c) for q, c in block.items()}
    return ChainFindings(
        indices={q: c.indices for q, c in single.items()}, unknown=unknown,
        single_acceptance={q: float(c.acceptance[kept].mean()) for q, c in single.items()},
        single_changed={q: float(v[kept].mean()) for q, v in changed.items()},
        single_rhat={q: torch.tensor([_rhat(c.group(c.log_p[kept], k)) for k in range(len(c.images))])
                     for q, c in single.items()},
        test_start_moved=(int(moved.min()), int(moved.max())),
        test_start_above=(int(sum(a.sum() for a in above)), sum(len(a) for a in above)),
        moves={q: move_table(c) for q, c in block.items()},
        block_rhat={q: c[-1, 1:] for q, c in curves.items()},
        rhat_curve=curves,
        block_log2_p={q: per_start(c, c.log_p[-1] / math.log(2)) for q, c in block.items()},
        block_ink={q: per_start(c, ink(c.samples[-1])) for q, c in block.items()},
        block_d=block_estimates(block["d"], burn_in()), truth=truth, test_ink=test_ink)


def rhat_table(f: ChainFindings) -> pd.DataFrame:
    """The block chains' rank-normalised split R-hat of log p(x) by sweeps (rows), per question and image."""
    columns = {f"({q}) #{i}": c[:, 1 + k].tolist() for q, c in f.rhat_curve.items()
               for k, i in enumerate(f.indices[q])}
    return pd.DataFrame({"sweeps": [int(s) for s in f.rhat_curve["d"][:, 0].tolist()], **columns})


def moves_table(f: ChainFindings) -> pd.DataFrame:
    """The block chains' moves per question: ``move_table`` side by side."""
    return pd.concat([t.assign(question=f"({q})") for q, t in f.moves.items()])[
        ["question", "move", "per sweep", "acceptance", "fraction changed", "pixels changed per sweep",
         "passes per move", "seconds per move"]]


def single_rhat_table(f: ChainFindings) -> pd.DataFrame:
    """The single-site chains: acceptance, fraction of unknown pixels changed per sweep, rank R-hat per image."""
    return pd.DataFrame([{"question": f"({q})", "acceptance": f.single_acceptance[q],
                          "fraction of unknown pixels changed per sweep": f.single_changed[q],
                          "rank-normalised split R-hat per image": " / ".join(f"{v:.2f}" for v in f.single_rhat[q])}
                         for q in f.single_rhat])
