"""Q3's tables of the estimates (``estimates``): the methods side by side, the held-out check, the forward
model's view of the (g) completions, and what each method of (b), (d) and (g) costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics
from . import HALF, MIDDLE_INDEX

if TYPE_CHECKING:
    from .block_chains import BlockChains
    from .chains import GPools, HardChains
    from .d_estimates import DEstimators, RBReverse
    from .estimates import Heldout, Results, ReverseResults
    from .tempering_findings import TemperingFindings


def distinct(samples: torch.Tensor, per_image: int) -> list[int]:
    """How many different images there are among each conditioning image's ``per_image`` samples."""
    return [len(torch.unique(s.flatten(1), dim=0)) for s in samples.split(per_image)]


def comparison_table(r: Results, rr: ReverseResults) -> pd.DataFrame:
    """The methods for (d) and (g) side by side, one column per conditioning image."""
    rows, true = torch.arange(len(r.images)), r.images.flatten(1)[:, MIDDLE_INDEX]
    q3, proposals = r.inputs["budget"], rr.inputs["proposals"]
    n = q3["completions"]
    measures = [  # (what, values per image, format)
        (f"(d) ESS, prior prefixes (of {q3['later_prefixes']})", r.d_ess.tolist(), ".1f"),
        (f"(d) ESS, reverse proposals (of {proposals})", rr.d_reverse_is_ess.tolist(), ".1f"),
        ("(d) p(true value), IS with prior prefixes", r.d[rows, true].tolist(), ".3f"),
        ("(d) p(true value), reverse model alone", rr.d_reverse[rows, true].tolist(), ".3f"),
        ("(d) p(true value), IS with reverse proposals", rr.d_reverse_is[rows, true].tolist(), ".3f"),
        ("(d) total variation: IS prior vs IS reverse", diagnostics.total_variation(r.d, rr.d_reverse_is).tolist(),
         ".3f"),
        ("(d) total variation: reverse alone vs IS reverse",
         diagnostics.total_variation(rr.d_reverse, rr.d_reverse_is).tolist(), ".3f"),
        (f"(g) ESS, prior proposals (of {q3['top_proposals']})", r.g_ess.tolist(), ".1f"),
        (f"(g) ESS, reverse proposals (of {proposals})", rr.g_reverse_is_ess.tolist(), ".1f"),
        (f"(g) distinct completions of {n}, SIR with prior proposals", distinct(r.g, n), "d"),
        (f"(g) distinct completions of {n}, reverse model alone", distinct(rr.g_reverse, n), "d"),
        (f"(g) distinct completions of {n}, SIR with reverse proposals", distinct(rr.g_reverse_is, n), "d"),
    ]
    return pd.DataFrame([{"measure": what, **{f"image #{k}": format(v, fmt) for k, v in enumerate(values)}}
                         for what, values, fmt in measures])


def heldout_table(h: Heldout) -> pd.DataFrame:
    """Mean bits and mean probability of the true middle value under each distribution."""
    labels = {"marginal": "marginal (test-set histogram)", "c": "(c) given the pixels before",
              "e": "(e) given all others"}
    return pd.DataFrame([{"distribution": label, "bits of the true value": -getattr(h, key).log2().mean().item(),
                          "mean probability of the true value": getattr(h, key).mean().item()}
                         for key, label in labels.items()])


def completion_nll_table(rr: ReverseResults) -> pd.DataFrame:
    """The forward model's bits/dim of the test images and of each method's (g) completions."""
    labels = {"original": "test images themselves", "g": "SIR, prior proposals", "g_reverse": "reverse model alone",
              "g_reverse_is": "SIR, reverse-model proposals"}
    return pd.DataFrame([{"images": label, "forward NLL (bits/dim)": rr.forward_bpd[key]}
                         for key, label in labels.items()])


def spread_cell(v: torch.Tensor) -> str:
    """A table cell of values over seeds or pools: "mean (smallest to largest)", in whole bits (one value alone)."""
    if v.numel() == 1:
        return f"{float(v):.0f}"
    return f"{float(v.mean()):.0f} ({float(v.min()):.0f} to {float(v.max()):.0f})"


def prior_pools_cost(pools: GPools) -> tuple[float, float, float]:
    """Forward passes, reverse passes and sampler steps per conditioning image of all the (g) prior pools: every
    proposal scored once per image, the proposals sampled once for all images."""
    n = pools.inputs["pools"] * pools.inputs["proposals"]
    return float(n), 0.0, n * HALF / len(pools.inputs["images"])


def cost_table(r: Results, e: DEstimators, rb: RBReverse, single: dict[str, HardChains],
               block: dict[str, BlockChains], pools: GPools, tempered: dict[str, TemperingFindings]) -> pd.DataFrame:
    """What each method of (b), (d) and (g) costs per conditioning image: forward passes of one image (network
    evaluations; the reverse model's counted apart), steps of the incremental sampler (one pixel of one image
    each), and the seconds recorded for all images (on shared cores; tempering: per run)."""
    m, n_b, prefixes, k = MIDDLE_INDEX, r.inputs["budget"]["marginal_prefixes"], e.inputs["later_prefixes"], \
        e.inputs["proposals"]
    pools_n = pools.inputs["pools"]
    kept = float(rb.kept.double().mean())
    rows = [("(b) plain Monte Carlo over ancestral prefixes (unbiased)", n_b, 0, n_b * m, r.seconds["b"])]
    rows += [("(d) IS, prior prefixes (per seed)", prefixes * 256, 0, prefixes * m, e.seconds["is_prior"]),
             ("(d) IS, reverse proposals (per seed)", k, k, k * (m + 1), e.seconds["is_reverse"]),
             ("(d) ... Rao-Blackwellised: full conditionals added (mean per seed)", kept * 256, 0, 0,
              rb.seconds["full_conditionals"])]
    for q in ("d", "g"):
        c, blk = single[q], block[q]
        chains = c.per_image
        rows.append((f"({q}) MCMC, single-site, {chains} chains", chains * c.passes, 0, 0, c.seconds))
        per_sweep, sweeps = blk.move_passes.sum(0).double(), len(blk.log_p)
        rows.append((f"({q}) MCMC, block moves, {chains} chains", chains * sweeps * float(per_sweep[0]),
                     chains * sweeps * float(per_sweep[1]), chains * sweeps * float(per_sweep[2]), blk.seconds))
        t = tempered[q]
        rows.append((f"({q}) SMC tempering from the prior, {t.particles} particles (per seed)", *t.cost_per_image(),
                     float(t.seconds.mean())))
    rows += [("(g) SIR, prior proposals, own pools (their sampling run included)", *prior_pools_cost(pools),
              pools.seconds["prior"]),
             ("(g) SIR, reverse proposals, own pools", pools_n * k, pools_n * k, pools_n * k * HALF,
              pools.seconds["reverse"])]
    return pd.DataFrame([{"method": name, "forward passes": float(f), "reverse passes": float(rev),
                          "sampler steps": float(s), "seconds (all images)": float(t)} for name, f, rev, s, t in rows])
