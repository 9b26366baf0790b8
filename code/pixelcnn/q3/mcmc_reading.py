"""What Q3's single-site and block-move chains of (d) and (g) say: the findings and tables of chapter 3's MCMC
section (their claims: ``q3.claims``).

Every function reads results handed to it (``chains``, ``block_chains``) and the reading budget (the
burn-in); R-hat is the rank-normalised split R-hat of ``diagnostics.rank_rhat``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics
from . import HALF, MIDDLE_INDEX, SIZE, STARTS, ink
from .judged import burn_in, traces

if TYPE_CHECKING:
    from .block_chains import BlockChains
    from .chains import HardChains, Scores

THRESHOLD = 1.01  # the rank-normalised split R-hat below which chains count as converged in current practice


def changed_per_sweep(c: HardChains, known_from: int) -> torch.Tensor:
    """Fraction of the unknown pixels each single-site sweep changed, [S, B]: a sweep updates every unknown
    pixel once, so the pixels that differ from the state before it are exactly those whose update changed them."""
    states = torch.cat([c.starts.unsqueeze(0), c.samples]).flatten(2)[:, :, :known_from]
    return (states[1:] != states[:-1]).double().mean(2)


def _size(move: str) -> int:
    """The number of pixels of a move named "<proposal> a-b" ("site": 1)."""
    if move == "site":
        return 1
    a, b = move.split()[1].split("-")
    return int(b) - int(a)


def move_kinds(moves: list[str]) -> list[str]:
    """The kind of each move named "<proposal> a-b" or "site": "<proposal> rows" (a block of at most one image
    row), "<proposal> prefix" (the whole unknown region) or "site"."""
    return [name if name == "site" else f"{name.split()[0]} {'rows' if _size(name) <= SIZE[1] else 'prefix'}"
            for name in moves]


def moves_by_kind(moves: list[str]) -> dict[str, list[int]]:
    """The indices of the moves of each kind (``move_kinds``), kinds in the order of the sweep."""
    kinds = move_kinds(moves)
    return {kind: [i for i, k in enumerate(kinds) if k == kind] for kind in dict.fromkeys(kinds)}


def move_table(c: BlockChains) -> pd.DataFrame:
    """Per kind of move (forward one-row blocks, reverse whole-prefix moves, the single-site updates):
    how many per sweep, the acceptance rate, the fraction of the block's pixels that change, unknown pixels
    changed per sweep, seconds per move (all chains at once) and passes of the batch per move (forward, reverse,
    sampler steps)."""
    sweeps, rows, sites = len(c.log_p), [], c.inputs["sites"]
    sizes = [_size(name) for name in c.moves]
    for kind, m in moves_by_kind(c.moves).items():
        count = len(m) if kind != "site" else sites
        pixels = sum(c.changed[:, i].mean() * (sizes[i] if kind != "site" else count) for i in m)
        rows.append({"move": kind, "per sweep": count, "acceptance": float(c.acceptance[:, m].mean()),
                     "fraction changed": float(c.changed[:, m].mean()), "pixels changed per sweep": float(pixels),
                     "seconds per move": float(c.move_seconds[m].sum()) / (sweeps * count),
                     "passes per move": " / ".join(f"{v:g}" for v in (c.move_passes[m].sum(0) / len(m)).tolist())})
    return pd.DataFrame(rows)


def per_start(c: BlockChains, values: torch.Tensor) -> torch.Tensor:
    """Per-chain values [B, ...] of the block chains as means over the chains of each image and start:
    [N, starts, ...]."""
    return values.view(len(c.images), len(STARTS), -1, *values.shape[1:]).mean(2)


def block_estimates(c: BlockChains, burn_in: int) -> torch.Tensor:
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


def truths(scores: Scores) -> dict:
    """log2 p of the test images per question, from ``chains.scores``."""
    return {"d": scores.d_truth, "g": scores.g["log2 p"]["test image itself"]}


def rhat_curve(c) -> torch.Tensor:
    """The block chains' R-hat by sweeps [checkpoints, 1 + images]; a run too short for any checkpoint (the
    smoke profile) gives one row: its sweeps, and NaN for every image."""
    if len(c.rhat_by_sweeps):
        return c.rhat_by_sweeps
    return torch.tensor([[len(c.log_p), *[math.nan] * len(c.images)]], dtype=torch.float64)


def _rhat(trace: torch.Tensor) -> float:
    """``diagnostics.rank_rhat``, or NaN for chains too short to split (a smoke-profile run of one sweep)."""
    return diagnostics.rank_rhat(trace) if len(trace) >= 4 else math.nan


def chain_findings(single: dict[str, HardChains], block: dict[str, BlockChains], scores: Scores) -> ChainFindings:
    """``ChainFindings`` from the single-site chains (``chains.chains``) and the block chains
    (``block_chains.chains``) of each question, and the forward model's scores (``chains.scores``)."""
    truth, unknown = truths(scores), {"d": MIDDLE_INDEX + 1, "g": HALF}
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
        block_d=block_estimates(block["d"], burn_in()), truth=truth, test_ink=scores.g["ink"]["test image itself"])


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
