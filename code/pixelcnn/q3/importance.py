"""Q3 (d) by importance sampling over several seeds, plain and Rao-Blackwellised: cached results, each declared
once (``cache.declare``) and carrying its inputs.

``d_estimators``: the (d) estimators of chapter 3 over several seeds, with their evidence estimates.
``rb_reverse``: sum_n w_n p(v | x^(n) without the middle), on the very proposals of ``d_estimators``
(its random numbers replayed), with the full conditional computed only for the proposals that carry all but
``dropped`` of the normalised weight; and each proposal's evidence estimate from its first ``equal_n``
proposals, to compare proposals at equal n.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..core import estimators as est
from ..core import inference as inf
from ..core.sampling import sample
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, identity, load_identity
from . import MIDDLE, MODEL, SIZE


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


def full_conditionals(model: torch.nn.Module, x: torch.Tensor, index: int, batch: int = 256) -> torch.Tensor:
    """p(x_index = v | all other pixels) of each image x [K, 1, H, W]: [K, levels], the 256 candidates of an
    image in one batch (``inference.full_conditional`` runs one pass of all images per value)."""
    levels = model.levels
    candidates = x.repeat_interleave(levels, 0)
    candidates.view(len(candidates), -1)[:, index] = torch.arange(levels).repeat(len(x))
    logs = torch.cat([inf.pixel_log_probs(model, candidates[i:i + batch])[:, index:].double().sum(1)
                      for i in range(0, len(candidates), batch)])
    return torch.softmax(logs.view(len(x), levels), dim=1)


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
            order = w.argsort(descending=True)
            kept = int((w[order].cumsum(0) < 1 - inputs["dropped"]).sum()) + 1
            plain = est.weighted_pixel_distribution(r.samples, w, middle, model.levels)
            rest = est.weighted_pixel_distribution(r.samples[order[kept:]], w[order[kept:]], middle, model.levels)
            rb = w[order[:kept]] @ full_conditionals(model, r.samples[order[:kept]], middle) + rest
            seconds["full_conditionals"] += time.perf_counter() - clock
            for name, value in (("rb", rb), ("plain", plain), ("kept", torch.tensor(kept)),
                                ("dropped", w[order[kept:]].sum()),
                                ("log_evidence_first", est.log_mean_exp(log_w_first))):
                out.setdefault(name, []).append(value)
            print(f"seed {seed}, image {k}: {kept} proposals kept, {seconds}", flush=True)
    shape = (len(e["seeds"]), len(x))
    return {**{name: torch.stack(v).view(*shape, *v[0].shape) for name, v in out.items()}, "seconds": seconds}
