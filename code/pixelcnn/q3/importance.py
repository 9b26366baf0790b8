"""Q3's (d) and (g) by importance sampling on MNIST: cached results, each declared once (``cache.declare``) and
carrying its inputs.

``reverse_results``: (d) and (g) with the reverse-order model, alone and as the proposal for the forward model.
``d_estimators``: the (d) importance samplers of chapter 3 over several seeds, with their evidence estimates.
``rb_reverse``: sum_n w_n p(v | x^(n) without the middle) on the very proposals of ``d_estimators`` (its random
numbers replayed), the full conditional (``inference.full_conditional``) computed only for the proposals that
carry all but ``dropped`` of the normalised weight, and each proposal's evidence estimate from its first
``equal_n`` proposals, to compare proposals at equal n. ``g_pools``: (g) completions each resampled from its own
pool of proposals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..core import estimators as est
from ..core import inference as inf
from ..core.models import bits_per_dim
from ..core.sampling import sample
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, default_device, identity, load_identity
from .quantities import results
from .setting import HALF, MIDDLE, MODEL, SIZE


@dataclass(frozen=True)
class ReverseResults:
    """(d) and (g) with the reverse-order model, alone and as the proposal for the forward model."""

    inputs: dict  # ``reverse_results.inputs()``: the reverse model, its proposals per image, the inputs of ``results``
    d_reverse: torch.Tensor  # [N, 256]: the reverse model's own p(x_middle | after), one pass
    d_reverse_is: torch.Tensor  # [N, 256]: importance sampling of the forward model, reverse proposals
    d_reverse_is_ess: torch.Tensor
    g_reverse: torch.Tensor  # the reverse model's own completions of the top half
    g_reverse_is: torch.Tensor  # SIR completions of the forward model, reverse proposals
    g_reverse_is_ess: torch.Tensor
    forward_bpd: dict  # the forward model's bits/dim of the test images and of every set of (g) completions
    seconds: dict


def _reverse_inputs(seed: int = 0) -> dict:
    """Everything ``reverse_results`` depends on (those of ``results`` included: it scores their (g))."""
    return {"reverse": identity("reverse"), "proposals": budget()["reverse_proposals"], "results": results.inputs(seed)}


@cache.declare("q3-reverse", ReverseResults, _reverse_inputs)
def reverse_results(inputs: dict) -> dict:
    """(d) and (g) with the reverse-order model (minutes on a CPU)."""
    forward = inputs["results"]
    device = default_device()
    model, reverse = load_identity(forward["model"], device), load_identity(inputs["reverse"], device)
    generator = torch.Generator().manual_seed(forward["seed"])
    x = load_images("test")[forward["images"]].long()
    n, proposals = forward["budget"]["completions"], inputs["proposals"]
    index = inf.raster_index(tuple(forward["pixel"]), SIZE[1])
    clock = time.perf_counter()
    out: dict = {"d_reverse": inf.reverse_conditional(reverse, x, index)}
    seconds = {"d_reverse": time.perf_counter() - clock, "d_reverse_is": 0.0, "g_reverse_is": 0.0}
    d, d_ess, g_reverse, g, g_ess = [], [], [], [], []
    for k in range(len(x)):
        clock = time.perf_counter()
        r = est.reverse_proposals(model, reverse, x[k:k + 1], index + 1, proposals, generator, progress=True)
        d.append(est.weighted_pixel_distribution(r.samples, r.weights, index, model.levels))
        d_ess.append(r.ess)
        seconds["d_reverse_is"] += time.perf_counter() - clock
        clock = time.perf_counter()
        r = est.reverse_proposals(model, reverse, x[k:k + 1], HALF, proposals, generator, progress=True)
        g_reverse.append(r.samples[:n].cpu())  # the reverse model's own samples, unweighted
        g.append(est.resample(r.samples, r.weights, n, generator).cpu())
        g_ess.append(r.ess)
        seconds["g_reverse_is"] += time.perf_counter() - clock
    out.update(d_reverse_is=torch.stack(d), d_reverse_is_ess=torch.stack(d_ess), g_reverse=torch.cat(g_reverse),
               g_reverse_is=torch.cat(g), g_reverse_is_ess=torch.stack(g_ess), seconds=seconds)
    completions = {"original": x, "g": results.load(forward).g,
                   "g_reverse": out["g_reverse"], "g_reverse_is": out["g_reverse_is"]}
    with torch.no_grad():
        out["forward_bpd"] = {name: bits_per_dim(model, c.to(device)).mean().item() for name, c in completions.items()}
    return out


@dataclass(frozen=True)
class DEstimators:
    """(d) by every method of chapter 3, per seed [R] and image [N]."""

    inputs: dict  # ``d_estimators.inputs()``: the models, the (d) images, the seeds, the budgets

    images: torch.Tensor  # long [N, 1, 28, 28]
    is_prior: torch.Tensor  # [R, N, 256]: importance sampling with prior prefixes
    is_prior_ess: torch.Tensor  # [R, N]
    is_prior_log_evidence: torch.Tensor  # [R, N]: log of the mean weight, an estimate of log p(x_>m) in nats
    is_reverse: torch.Tensor  # [R, N, 256]: importance sampling with reverse-model proposals
    is_reverse_ess: torch.Tensor
    is_reverse_log_evidence: torch.Tensor
    reverse: torch.Tensor  # [N, 256]: the reverse model alone
    seconds: dict


def _d_estimators_inputs() -> dict:
    """Everything ``d_estimators`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "reverse": identity("reverse"), "pixel": list(MIDDLE),
            "images": list(b["mcmc"]["d_images"]), "seeds": list(b["mcmc"]["seeds"]),
            "later_prefixes": b["q3"]["later_prefixes"], "proposals": b["reverse_proposals"]}


@cache.declare("q3-d-estimators", DEstimators, _d_estimators_inputs)
def d_estimators(inputs: dict) -> dict:
    """The (d) estimators over several seeds (about ten minutes on a CPU)."""
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    x = load_images("test")[inputs["images"]].long()
    middle = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    out: dict[str, list] = {}
    seconds = {"is_prior": 0.0, "is_reverse": 0.0}
    for seed in inputs["seeds"]:
        generator = torch.Generator().manual_seed(seed)
        for k in range(len(x)):
            clock = time.perf_counter()
            w = est.conditional_on_later_pixels(model, x[k:k + 1], middle, inputs["later_prefixes"], generator)
            seconds["is_prior"] += time.perf_counter() - clock
            clock = time.perf_counter()
            r = est.reverse_proposals(model, reverse, x[k:k + 1], middle + 1, inputs["proposals"], generator)
            seconds["is_reverse"] += time.perf_counter() - clock
            for name, value in (("is_prior", w.p), ("is_prior_ess", w.ess), ("is_prior_log_evidence", w.log_evidence),
                                ("is_reverse", est.weighted_pixel_distribution(r.samples, r.weights, middle,
                                                                                model.levels)),
                                ("is_reverse_ess", r.ess), ("is_reverse_log_evidence", r.log_evidence)):
                out.setdefault(name, []).append(value.double())
    shape = (len(inputs["seeds"]), len(x))
    result = {name: torch.stack(v).view(*shape, *v[0].shape) for name, v in out.items()}
    return {"images": x, **result, "reverse": inf.reverse_conditional(reverse, x, middle), "seconds": seconds}


@dataclass(frozen=True)
class RBReverse:
    """(d) by importance sampling with reverse-model proposals, Rao-Blackwellised, per seed [R] and image [N]."""

    inputs: dict  # ``rb_reverse.inputs()``: the (d) estimators' inputs, the weight left out, the equal n
    rb: torch.Tensor  # [R, N, 256]: sum over the kept proposals of w_n p(v | x^(n)_-m), plus the dropped ones'
    #   weight on their sampled value (as plain importance sampling counts it)
    plain: torch.Tensor  # [R, N, 256]: the plain estimate of the same proposals (equals the cached one)
    kept: torch.Tensor  # long [R, N]: proposals whose full conditional was computed (256 passes each)
    dropped: torch.Tensor  # [R, N]: their total normalised weight left out (the estimate moves by at most this, TV)
    log_evidence_first: torch.Tensor  # [R, N]: log of the mean weight of the first ``equal_n`` proposals, nats
    seconds: dict  # "replay" (the prior prefixes drawn again), "proposals", "full_conditionals"


def _rb_inputs() -> dict:
    """Everything ``rb_reverse`` depends on: the (d) estimators' inputs, the weight left out, the equal n."""
    return {"estimators": d_estimators.inputs(), "dropped": 1e-3, "equal_n": 16}


@cache.declare("q3-rb-reverse", RBReverse, _rb_inputs)
def rb_reverse(inputs: dict) -> dict:
    """The Rao-Blackwellised reverse-proposal estimate of (d) (about twenty minutes on two shared cores)."""
    e = inputs["estimators"]
    model, reverse = load_identity(e["model"]), load_identity(e["reverse"])
    x = load_images("test")[e["images"]].long()
    middle = inf.raster_index(tuple(e["pixel"]), SIZE[1])
    seconds = {"replay": 0.0, "proposals": 0.0, "full_conditionals": 0.0}
    out: dict[str, list] = {}
    for seed in e["seeds"]:
        generator = torch.Generator().manual_seed(seed)
        for k in range(len(x)):
            clock = time.perf_counter()  # the prior prefixes of d_estimators, drawn again for its random numbers
            sample(model, e["later_prefixes"], stop=middle, size=tuple(x.shape[-2:]), generator=generator)
            seconds["replay"] += time.perf_counter() - clock
            clock = time.perf_counter()
            r = est.reverse_proposals(model, reverse, x[k:k + 1], middle + 1, e["proposals"], generator)
            first = r.samples[:inputs["equal_n"]]
            log_q = inf.pixel_log_probs(reverse, inf.rotate(first))[:, SIZE[0] * SIZE[1] - middle - 1:].sum(1)
            log_w_first = (inf.log_prob(model, first) - log_q).double()
            seconds["proposals"] += time.perf_counter() - clock
            clock = time.perf_counter()
            w = r.weights.double()
            kept = est.heaviest(w, inputs["dropped"])
            plain = est.weighted_pixel_distribution(r.samples, w, middle, model.levels)
            rb = est.rao_blackwellised_pixel(model, r.samples, w, middle, inputs["dropped"])
            seconds["full_conditionals"] += time.perf_counter() - clock
            for name, value in (("rb", rb), ("plain", plain), ("kept", torch.tensor(kept)),
                                ("dropped", w.sort(descending=True).values[kept:].sum()),
                                ("log_evidence_first", est.log_mean_exp(log_w_first))):
                out.setdefault(name, []).append(value)
            print(f"seed {seed}, image {k}: {kept} proposals kept, {seconds}", flush=True)
    shape = (len(e["seeds"]), len(x))
    return {**{name: torch.stack(v).view(*shape, *v[0].shape) for name, v in out.items()}, "seconds": seconds}


@dataclass(frozen=True)
class GPools:
    """(g) completions, each resampled from its own pool of proposals: [N * pools, 1, 28, 28], image-major."""

    inputs: dict  # ``g_pools.inputs()``: the models, the images, the pools per image, proposals per pool, the seed

    images: torch.Tensor
    prior: torch.Tensor  # SIR with the forward model's own top halves as proposals
    prior_ess: torch.Tensor  # [N, pools]
    prior_log_evidence: torch.Tensor  # [N, pools]: log p(bottom half) estimated, nats
    reverse: torch.Tensor  # SIR with the reverse model's completions as proposals
    reverse_ess: torch.Tensor
    reverse_log_evidence: torch.Tensor
    seconds: dict


def _g_pools_inputs(seed: int = 0) -> dict:
    """Everything ``g_pools`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "reverse": identity("reverse"), "images": list(b["q3_images"]),
            "pools": b["q3"]["completions"], "proposals": b["reverse_proposals"], "seed": seed}


@cache.declare("q3-g-pools", GPools, _g_pools_inputs)
def g_pools(inputs: dict) -> dict:
    """(g) by SIR with independent pools (about ten minutes on a CPU)."""
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    x, pools, k = load_images("test")[inputs["images"]].long(), inputs["pools"], inputs["proposals"]
    out: dict[str, list] = {}
    clock = time.perf_counter()
    proposals = sample(model, pools * k, stop=HALF, generator=generator, progress=True).split(k)
    seconds = {"prior": time.perf_counter() - clock, "reverse": 0.0}
    for image in x:
        image = image.unsqueeze(0)
        for pool in range(pools):
            clock = time.perf_counter()
            p = est.complete_given_later(model, image, proposals[pool], HALF, 1, generator)
            seconds["prior"] += time.perf_counter() - clock
            clock = time.perf_counter()
            r = est.reverse_proposals(model, reverse, image, HALF, k, generator)
            drawn = est.resample(r.samples, r.weights, 1, generator)
            seconds["reverse"] += time.perf_counter() - clock
            for name, value in (("prior", p.samples), ("prior_ess", p.ess), ("prior_log_evidence", p.log_evidence),
                                ("reverse", drawn), ("reverse_ess", r.ess),
                                ("reverse_log_evidence", r.log_evidence)):
                out.setdefault(name, []).append(value)
    result = {name: torch.cat(v) if name in ("prior", "reverse") else torch.stack(v).double().view(len(x), pools)
              for name, v in out.items()}
    return {"images": x, **result, "seconds": seconds}


@dataclass(frozen=True)
class PooledSIR:
    """(g) by SIR from one pool per image of the forward model's own top halves: the completions, long
    [N * completions, 1, 28, 28] (image-major), the forward model's log p of each, and the pool's ESS and log
    evidence of the bottom half [N]."""

    inputs: dict  # ``pooled_sir.inputs()``: the model, the images, the pool's size, completions per image, the seed
    completions: torch.Tensor
    log_p: torch.Tensor  # [N * completions]: log p(x) of the completed images, nats
    ess: torch.Tensor
    log_evidence: torch.Tensor  # nats
    seconds: dict


def _pooled_sir_inputs(seed: int = 0) -> dict:
    """Everything ``pooled_sir`` depends on: ``g_pools``' proposals read as one pool (the same seed draws them)."""
    pools = g_pools.inputs(seed)
    return {"model": pools["model"], "images": pools["images"], "proposals": pools["pools"] * pools["proposals"],
            "completions": pools["pools"], "seed": seed}


@cache.declare("q3-g-pooled", PooledSIR, _pooled_sir_inputs)
def pooled_sir(inputs: dict) -> dict:
    """Our answer to (g): every completion resampled from one pool per image of all the prior proposals of
    ``g_pools`` (the same draws: the same seed, drawn first), so that the evidence and the completions come from
    the same n (about ten minutes on a CPU)."""
    model = load_identity(inputs["model"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    x = load_images("test")[inputs["images"]].long()
    clock = time.perf_counter()
    proposals = sample(model, inputs["proposals"], stop=HALF, generator=generator, progress=True)
    drawn = [est.complete_given_later(model, image.unsqueeze(0), proposals, HALF, inputs["completions"], generator)
             for image in x]
    completions = torch.cat([d.samples for d in drawn])
    return {"completions": completions, "log_p": inf.log_prob(model, completions).double(),
            "ess": torch.stack([d.ess for d in drawn]),
            "log_evidence": torch.stack([d.log_evidence for d in drawn]),
            "seconds": {"total": time.perf_counter() - clock}}
