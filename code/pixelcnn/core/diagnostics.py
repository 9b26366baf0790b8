"""Diagnostics of samplers: distances between distributions, R-hat between chains, and the diversity and
evidence of tempering runs.

* ``total_variation`` and ``wasserstein`` (Wasserstein-1 over ordered levels) between distributions.
* ``split_rhat`` (classic) and ``rank_rhat`` (rank-normalised, Vehtari et al. 2021) of scalar traces.
* ``hamming`` and ``distinct_ancestors``: how far apart a group of particles is, which resampling can hide
  from "distinct particles" and the effective sample size.
* ``combine_by_evidence``: independent SMC runs weighted by their evidence estimates.
"""

from __future__ import annotations

import torch


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total-variation distance between distributions over the last dimension."""
    return 0.5 * (p.double() - q.double()).abs().sum(-1)


def wasserstein(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Wasserstein-1 distance between distributions over ordered levels 0..L-1 (last dim), in levels."""
    return (p.double().cumsum(-1) - q.double().cumsum(-1)).abs().sum(-1)


def split_rhat(trace: torch.Tensor) -> float:
    """Split R-hat of a scalar trace [S, C] (C chains): each chain is halved, and the variance between the
    halves' means is set against the variance within them. Near 1 when all halves sample the same
    distribution; above about 1.01-1.1 they disagree (not converged, or started apart and not mixed)."""
    n = trace.shape[0] // 2
    if n < 2:
        raise ValueError(f"need at least 4 sweeps for split R-hat, got {trace.shape[0]}")
    halves = torch.cat([trace[:n], trace[n:2 * n]], dim=1).double()  # [n, 2C]
    within = halves.var(0).mean()
    pooled = (n - 1) / n * within + halves.mean(0).var()
    return float((pooled / within).sqrt())


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of a flat tensor, ties given their average rank."""
    unique, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()
    return (last - (counts.double() - 1) / 2)[inverse]


def _rhat(chains: torch.Tensor) -> float:
    """The classic R-hat of traces [n, C] (no further splitting)."""
    n = chains.shape[0]
    within = chains.var(0).mean()
    pooled = (n - 1) / n * within + chains.mean(0).var()
    return float((pooled / within).sqrt()) if within > 0 else float("inf")


def rank_rhat(trace: torch.Tensor) -> float:
    """Rank-normalised split R-hat of a scalar trace [S, C] (Vehtari, Gelman, Simpson, Carpenter and Buerkner,
    2021): each chain is halved, the pooled draws are replaced by the normal scores of their ranks, and the
    larger of the R-hats of those (bulk) and of the scores of |draw - median| (tails, spread) is returned.
    Converged: below 1.01."""
    n = trace.shape[0] // 2
    if n < 2:
        raise ValueError(f"need at least 4 draws per chain, got {trace.shape[0]}")
    halves = torch.cat([trace[:n], trace[n:2 * n]], dim=1).double()  # [n, 2C]

    def normal_scores(h: torch.Tensor) -> torch.Tensor:
        r = _ranks(h.flatten())
        return torch.special.ndtri((r - 3 / 8) / (h.numel() + 1 / 4)).view_as(h)

    folded = (halves - halves.median()).abs()
    return max(_rhat(normal_scores(halves)), _rhat(normal_scores(folded)))


def hamming(particles: torch.Tensor, pixels: int) -> torch.Tensor:
    """The fraction of the first ``pixels`` raster pixels on which two particles differ, for every pair of each
    group: particles [G, n, ...] -> [G, n, n] (0 on the diagonal)."""
    flat = particles.reshape(*particles.shape[:2], -1)[:, :, :pixels]
    # one particle against all at a time: [G, n, pixels] comparisons in memory, not [G, n, n, pixels]
    return torch.stack([(flat[:, i:i + 1] != flat).double().mean(-1) for i in range(flat.shape[1])], dim=1)


def mean_hamming(particles: torch.Tensor, pixels: int) -> torch.Tensor:
    """The mean Hamming distance (``hamming``) between the particles of each group over the first ``pixels``
    raster pixels: particles [G, n, ...] -> [G], a fraction (0 when every particle is a copy of one)."""
    n = particles.shape[1]
    return hamming(particles, pixels).sum((1, 2)) / (n * (n - 1))


def distinct_ancestors(ancestors: torch.Tensor) -> torch.Tensor:
    """How many of each group's first particles still have descendants: ancestors [G, n] -> [G]."""
    return torch.tensor([len(torch.unique(row)) for row in ancestors])


def combine_by_evidence(log_evidence: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
    """Independent runs' estimates [R, G, ...] combined with weights proportional to their evidence estimates
    exp(log_evidence) [R, G]: sum_r Z_r pi_r / sum_r Z_r per group [G, ...], consistent as runs are added (the
    plain mean of the runs is not, when each run is biased towards the regions it found)."""
    weights = torch.softmax(log_evidence.double(), dim=0)
    return (weights.view(*weights.shape, *[1] * (estimates.dim() - 2)) * estimates.double()).sum(0)


def pooled_log_evidence(log_evidence: torch.Tensor) -> torch.Tensor:
    """log of the mean of the runs' evidence estimates [R, G] -> [G]: itself unbiased where each is."""
    return torch.logsumexp(log_evidence.double(), dim=0) - torch.log(torch.tensor(float(len(log_evidence))))
