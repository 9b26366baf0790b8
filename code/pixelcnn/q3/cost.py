"""What each method of Q3's (b), (d) and (g) costs per conditioning image, in forward passes, reverse passes,
sampler steps and seconds (``cost_table``), read from the results that record them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .setting import HALF, MIDDLE_INDEX

if TYPE_CHECKING:
    from .importance import DEstimators, GPools, PooledSIR, RBReverse
    from .mcmc_runs import BlockMoveChains, SingleSiteChains
    from .quantities import Results
    from .tempering_reading import TemperingFindings


def prior_pools_cost(pools: GPools) -> tuple[float, float, float]:
    """Forward passes, reverse passes and sampler steps per conditioning image of all the (g) prior pools: every
    proposal scored once per image, the proposals sampled once for all images."""
    n = pools.inputs["pools"] * pools.inputs["proposals"]
    return float(n), 0.0, n * HALF / len(pools.inputs["images"])


def cost_table(r: Results, e: DEstimators, rb: RBReverse, single: dict[str, SingleSiteChains],
               block: dict[str, BlockMoveChains], pools: GPools,
               tempered: dict[str, TemperingFindings], small: TemperingFindings, pooled: PooledSIR) -> pd.DataFrame:
    """What each method of (b), (d) and (g) costs per conditioning image: forward passes of one image (network
    evaluations; the reverse model's counted apart), steps of the incremental sampler (one pixel of one image
    each), and the seconds recorded for all images (on shared cores; tempering: per run). ``small``: the small
    (d) runs; ``pooled``: the (g) answer."""
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
        rows.append((f"({q}) SMC tempering from the prior, adaptive, {t.particles} particles (per seed)",
                     *t.cost_per_image(), float(t.seconds.mean())))
        if q == "d":
            rows.append((f"(d) SMC tempering, frozen temperatures, {small.particles} particles (per run; "
                         f"{len(small.seeds)} runs)", *small.cost_per_image(), float(small.seconds.mean())))
    size, images = pooled.inputs["proposals"], len(pooled.inputs["images"])
    rows += [("(g) SIR, prior proposals, own pools (their sampling run included)", *prior_pools_cost(pools),
              pools.seconds["prior"]),
             (f"(g) SIR, prior proposals, one pool of {size:,} (the answer; its sampling included)", size, 0,
              size * HALF / images, pooled.seconds["total"]),
             ("(g) SIR, reverse proposals, own pools", pools_n * k, pools_n * k, pools_n * k * HALF,
              pools.seconds["reverse"])]
    return pd.DataFrame([{"method": name, "forward passes": float(f), "reverse passes": float(rev),
                          "sampler steps": float(s), "seconds (all images)": float(t)} for name, f, rev, s, t in rows])
