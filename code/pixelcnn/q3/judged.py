"""What Q3's MCMC chains and the estimators judged against them say: the tables and the findings of chapter 3's
MCMC, "(d) judged" and "(g) diagnosed" sections (their claims: ``q3.claims``).

Every function reads results (``chains``, ``tiny_mcmc``) handed to it and the reading budget (the burn-in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .. import cache, mcmc
from .. import inference as inf
from ..runs import budget
from . import KINDS, MIDDLE_INDEX, kind
from .starts import STARTS

if TYPE_CHECKING:
    from .chains import DEstimators, GPools, HardChains, Scores
    from .tiny_mcmc import TinyCheck


def burn_in() -> int:
    """Sweeps discarded from the start of every chain."""
    return budget()["mcmc"]["burn_in"]


def d_reference(c: HardChains, start: str | None = None) -> torch.Tensor:
    """The chains' estimate of (d) per image [N, 256]: the middle pixel's full conditionals averaged over the
    chains (of one start, or all) and the sweeps after the burn-in (Rao-Blackwellised)."""
    kept = mcmc.full_conditionals_between(c.full_conditionals, c.every, burn_in())
    return torch.stack([c.group(kept, k, start).reshape(-1, kept.shape[-1]).mean(0) for k in range(len(c.images))])



def chain_diagnostics(c: HardChains, truth: torch.Tensor) -> pd.DataFrame:
    """Per conditioning image (columns): the acceptance rate and the final log2 p(x) of the chains of each
    start (after the burn-in), log2 p(x) of the test image itself (``truth``, [N]), and the split R-hat of log p
    over all chains."""
    kept, starts = slice(burn_in(), None), " / ".join(STARTS)
    columns = {}
    for k in range(len(c.images)):
        trace = c.group(c.log_p[kept], k)
        columns[f"test #{c.indices[k]}"] = [
            " / ".join(f"{c.group(c.acceptance[kept], k, start).mean():.2f}" for start in STARTS),
            " / ".join(f"{c.group(c.log_p[-1:], k, start).mean() / math.log(2):.0f}" for start in STARTS),
            f"{truth[k]:.0f}", f"{mcmc.split_rhat(trace):.2f}" if len(trace) >= 4 else "-"]
    measures = [f"acceptance rate ({starts} starts)", f"log2 p(x) after the last sweep ({starts})",
                "log2 p(x) of the test image", "split R-hat of log p(x), all chains"]
    return pd.DataFrame({"measure": measures, **columns})


REFERENCE = "test-image"  # the chains whose Rao-Blackwellised estimate of (d) the others are judged against


def d_errors(c: HardChains, e: DEstimators) -> dict[str, torch.Tensor]:
    """Total-variation distance of every (d) estimate to the reference chains' estimate: [R, N] per method
    (R seeds for the importance samplers, 1 otherwise)."""
    reference, tv, n = d_reference(c, REFERENCE), inf.total_variation, len(c.images)
    errors = {f"MCMC from {start} starts": torch.stack([tv(d_reference(c, start)[k], reference[k]) for k in range(n)])
              for start in STARTS if start != REFERENCE}
    errors |= {"IS, prior prefixes": torch.stack([tv(e.is_prior[:, k], reference[k]) for k in range(n)], 1),
               "IS, reverse proposals": torch.stack([tv(e.is_reverse[:, k], reference[k]) for k in range(n)], 1),
               "reverse model alone": torch.stack([tv(e.reverse[k], reference[k]) for k in range(n)])}
    return {name: v.reshape(-1, n) for name, v in errors.items()}


def d_comparison(c: HardChains, e: DEstimators) -> pd.DataFrame:
    """(d) per method (rows) and image (columns): total-variation distance to the reference chains' estimate,
    as "mean (smallest to largest)" over the seeds for the importance samplers; then each proposal's evidence
    estimate log2 p(x_>m), the same way."""
    def spread(values: torch.Tensor, fmt: str = ".3f") -> str:
        if len(values) == 1:
            return format(values.item(), fmt)
        return f"{values.mean():{fmt}} ({values.min():{fmt}} to {values.max():{fmt}})"

    table = [{"measure": f"TV to the reference: {name}",
              **{column(c, k): spread(values[:, k]) for k in range(len(c.images))}}
             for name, values in d_errors(c, e).items()]
    for name, log_z in (("prior prefixes", e.is_prior_log_evidence), ("reverse proposals", e.is_reverse_log_evidence)):
        table.append({"measure": f"log2 evidence, {name}",
                      **{column(c, k): spread(log_z[:, k] / math.log(2), ".0f") for k in range(len(c.images))}})
    return pd.DataFrame(table)


def column(c: HardChains, k: int) -> str:
    """A table column naming conditioning image k and its true middle value."""
    return f"test #{c.indices[k]} (true {int(c.images[k].view(-1)[MIDDLE_INDEX])})"


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


def time_table(d_chains: HardChains, g_chains: HardChains, e: DEstimators, pools: GPools,
               tiny: TinyCheck) -> pd.DataFrame:
    """Seconds each new (d)/(g) computation took, for all its images, as recorded when it was computed."""
    rows = [("(d) MCMC, all chains (starts included)", d_chains.seconds),
            ("(g) MCMC, all chains (starts included)", g_chains.seconds),
            ("(d) IS with prior prefixes, all seeds", e.seconds["is_prior"]),
            ("(d) IS with reverse proposals, all seeds", e.seconds["is_reverse"]),
            ("(g) SIR with prior proposals, own pools", pools.seconds["prior"]),
            ("(g) SIR with reverse proposals, own pools", pools.seconds["reverse"]),
            ("MCMC check on the tiny 4x4 model (every method)",
             cache.compute_seconds(cache.lookup("estimate", tiny.inputs).manifest))]
    return pd.DataFrame([{"quantity": name, "seconds": float(v)} for name, v in rows])


def chain_summary(c: HardChains, truth: torch.Tensor) -> dict:
    """The numbers the chapter's reading of the chains rests on (log p in bits, over all images):
    acceptance range after the burn-in; the largest gap between the test-image chains' mean log2 p and the
    test image's, over every sweep; per other start and image, the gap below the test image after the last
    sweep and the climb from the start; the smallest split R-hat over the images."""
    t = traces(c)
    kept = c.acceptance[burn_in():]
    mean = t.mean(3)  # [S + 1, N, starts]
    own = STARTS.index("test-image")
    out = {"acceptance": (kept.min().item(), kept.max().item()),
           "truth_drift": (mean[:, :, own] - truth).abs().max().item(),
           "below": {s: truth - mean[-1, :, i] for i, s in enumerate(STARTS) if i != own},
           "climb": {s: mean[-1, :, i] - mean[0, :, i] for i, s in enumerate(STARTS) if i != own},
           "rhat_min": min((mcmc.split_rhat(c.group(c.log_p[burn_in():], k)) for k in range(len(c.images))
                            if len(c.log_p) - burn_in() >= 4), default=math.nan)}
    return out


# --- Findings: the numbers the chapter's reading of the chains rests on --------------------------------

FAR = 50  # bits below the test image: a chain this far below it holds a much less probable image
TINY_G_METHODS = ("g_sir_prior", "g_is_reverse", "g_mcmc", "g_mcmc_prior_start")  # the tiny check's (g) samplers


@dataclass(frozen=True)
class ChainFindings:
    """The MCMC section: the chains' budget, the tiny-model check and what the chains of (d) and (g) did."""

    chains_per_start: int
    sweeps: int
    chunk: int  # (d)'s full conditional follows every chunk of sweeps
    burn_in: int
    truth: dict[str, torch.Tensor]  # "d", "g": log2 p(x) of the test images [N]
    tiny_kl_bits: float  # how far the tiny check's reverse model stays from its forward model
    tiny_acceptance: tuple[float, float]  # range over images of the tiny (g) chains' acceptance
    tiny_errors: dict[str, torch.Tensor]  # (g) error of each sampler of the tiny check, per budget [K]
    tiny_reverse_error: float  # (g) error of the tiny reverse model alone
    acceptance: tuple[float, float]  # range over chains and sweeps after the burn-in, (d) and (g)
    drift: float  # largest gap, bits, between the test-image chains' mean log2 p and the test image's
    far_bits: int  # ``FAR``
    far: dict[str, int]  # per other start: (image, question) cases ending more than FAR bits below
    cases: int  # (image, question) cases
    climb: dict[str, float]  # per other start: mean climb in log2 p from the start, bits
    rhat: float  # smallest split R-hat over the images
    summary: dict[str, dict]  # per question: ``chain_summary``


def chain_findings(chains_d: HardChains, chains_g: HardChains, scores: Scores, tiny: TinyCheck) -> ChainFindings:
    truth = {"d": scores.d_truth, "g": scores.g["log2 p"]["test image itself"]}
    summary = {"d": chain_summary(chains_d, truth["d"]), "g": chain_summary(chains_g, truth["g"])}
    others = ("reverse", "prior")
    return ChainFindings(
        chains_d.inputs["chains_per_start"], chains_d.inputs["sweeps"], chains_d.inputs["chunk"], burn_in(), truth,
        float(tiny.reverse_kl_bits), (tiny.acceptance_g.min().item(), tiny.acceptance_g.max().item()),
        {k: getattr(tiny, k).mean(0) for k in TINY_G_METHODS}, tiny.g_reverse.mean().item(),
        (min(v["acceptance"][0] for v in summary.values()), max(v["acceptance"][1] for v in summary.values())),
        max(v["truth_drift"] for v in summary.values()), FAR,
        {s: sum(int((v["below"][s] > FAR).sum()) for v in summary.values()) for s in others},
        sum(len(v["below"]["reverse"]) for v in summary.values()),
        {s: torch.cat([v["climb"][s] for v in summary.values()]).mean().item() for s in others},
        min(v["rhat_min"] for v in summary.values()), summary)


@dataclass(frozen=True)
class DJudged:
    """"(d) judged": every (d) estimate against the reference chains', per image of ``KINDS`` (None: not judged)."""

    indices: tuple[int, ...]  # the (d) test images
    seeds: int  # seeds of each importance sampler
    at: dict[str, int | None]  # kind of middle pixel -> the position of its image
    reference: torch.Tensor  # [N, 256]: the reference chains' estimate
    errors: dict[str, torch.Tensor]  # ``d_errors``
    white: dict[str, torch.Tensor]  # P(middle >= 128) per image [N], for the reference and each estimate
    prior_range: tuple[float, float]  # IS with prior prefixes on the black image: TV range over the seeds
    prior_start_black: float  # TV of the prior-start chains on the black image
    stroke_white: float  # the least P(middle >= 128) of any estimate on the stroke image
    edge_distance: float  # the least TV of any estimate to the reference on the edge image
    reverse_is_black_at_edge: float  # the least P(black) of IS with reverse proposals on the edge image, over seeds
    reverse_above_at_edge: bool  # the reverse-start chains end above the test image's log2 p on the edge image
    reverse_wins: int  # images whose evidence ranks the reverse proposals above the prior prefixes


def d_findings(c: HardChains, e: DEstimators, found: ChainFindings) -> DJudged:
    reference, errors = d_reference(c, REFERENCE), d_errors(c, e)
    estimates = {"reference": reference, "IS, prior prefixes": e.is_prior.mean(0),
                 "IS, reverse proposals": e.is_reverse.mean(0), "reverse model alone": e.reverse}
    white = {name: p[:, 128:].sum(1) for name, p in estimates.items()}
    at = {k: next((i for i, x in enumerate(c.images) if kind(int(x.view(-1)[MIDDLE_INDEX])) == k), None)
          for k in KINDS}
    black, stroke, edge = (at[k] for k in KINDS)
    prior = errors["IS, prior prefixes"][:, black] if black is not None else torch.full((1,), math.nan)
    gap = (e.is_reverse_log_evidence - e.is_prior_log_evidence).mean(0)
    return DJudged(
        c.indices, len(e.inputs["seeds"]), at, reference, errors, white, (prior.min().item(), prior.max().item()),
        errors["MCMC from prior starts"][0, black].item() if black is not None else math.nan,
        min(p[stroke].item() for p in white.values()) if stroke is not None else math.nan,
        min(v[:, edge].min().item() for v in errors.values()) if edge is not None else math.nan,
        e.is_reverse[:, edge, 0].min().item() if edge is not None else math.nan,
        edge is not None and bool(found.summary["d"]["below"]["reverse"][edge] < 0), int((gap > 0).sum()))


@dataclass(frozen=True)
class GDiagnosed:
    """"(g) diagnosed": the ink and log2 p of every method's tops against the true tops'."""

    sweeps: int  # sweeps of the (g) chains
    ink: dict[str, torch.Tensor]  # per method (the test images first): mean ink of the tops [N]
    log2_p: dict[str, torch.Tensor]  # per method: mean log2 p(x) of the completed images [N]
    peak_above: tuple[float, float]  # SIR with reverse proposals, own pools: bits above the true tops (range)
    kept_ink: float  # the test-image chains' largest ink difference to the true tops
    reverse_below: float  # the reverse model's tops: the least bits below the true tops
    prior_ink_gap: float  # SIR with prior proposals, own pools: the largest ink difference
    prior_lp_gap: float  # the same for log2 p, bits


def g_findings(chains_g: HardChains, scores: Scores) -> GDiagnosed:
    ink, lp = scores.g["ink"], scores.g["log2 p"]
    true_ink, true_lp = ink["test image itself"], lp["test image itself"]
    above = lp["SIR, reverse, own pools"] - true_lp
    return GDiagnosed(
        chains_g.inputs["sweeps"], ink, lp, (above.min().item(), above.max().item()),
        (ink["MCMC from test-image starts"] - true_ink).abs().max().item(),
        (true_lp - lp["reverse model alone"]).min().item(),
        (ink["SIR, prior, own pools"] - true_ink).abs().max().item(),
        (lp["SIR, prior, own pools"] - true_lp).abs().max().item())
