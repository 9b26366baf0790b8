"""Q3's estimates on MNIST, each a cached result declared once (``cache.declare``).

The quantities (a)-(g) at the middle pixel and the two halves of the course's model (``results``),
(d) and (g) with the reverse-order model (``reverse_results``), and the held-out check of (c) and (e)
(``heldout``). Each result carries the inputs it was computed from.
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
from . import HALF, MIDDLE, MODEL, SIZE


@dataclass(frozen=True)
class Results:
    """(a)-(g) for the conditioning images, with the test-set histograms and the seconds each took."""

    inputs: dict  # ``results.inputs()``: the model, the pixel, the test images, the budget (completions: n), the seed
    images: torch.Tensor  # the conditioning test images [N, 1, 28, 28]
    a: torch.Tensor  # [256]: p(x_first), exact
    b: torch.Tensor  # [256]: p(x_middle), Monte Carlo
    b_stderr: torch.Tensor
    c: torch.Tensor  # [N, 256]: p(x_middle | before), exact
    d: torch.Tensor  # [N, 256]: p(x_middle | after), importance sampling with prior prefixes
    d_ess: torch.Tensor
    e: torch.Tensor  # [N, 256]: p(x_middle | all others), exact
    f: torch.Tensor  # [N * completions, 1, 28, 28]: bottom halves sampled given the top
    g: torch.Tensor  # [N * completions, 1, 28, 28]: top halves given the bottom, SIR with prior proposals
    g_ess: torch.Tensor
    empirical_first: torch.Tensor  # test-set histogram of the first pixel [256]
    empirical_middle: torch.Tensor
    seconds: dict


def _results_inputs(seed: int = 0) -> dict:
    """Everything ``results`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "pixel": list(MIDDLE), "images": list(b["q3_images"]), "budget": b["q3"],
            "seed": seed}


@cache.declare("q3-results", Results, _results_inputs)
def results(inputs: dict) -> dict:
    """Every Q3 quantity for the conditioning test images (minutes on a CPU to compute)."""
    model, generator = load_identity(inputs["model"], default_device()), torch.Generator().manual_seed(inputs["seed"])
    index, n, b = inf.raster_index(tuple(inputs["pixel"]), SIZE[1]), inputs["budget"]["completions"], inputs["budget"]
    test = load_images("test")
    x = test[inputs["images"]].long()
    out, seconds, clock = {"images": x}, {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name], clock = time.perf_counter() - clock, time.perf_counter()

    out["a"] = inf.conditional(model, torch.zeros(1, 1, *SIZE, dtype=torch.long), 0)[0]
    lap("a")
    mc = est.marginal_monte_carlo(model, index, b["marginal_prefixes"], generator, SIZE)
    out["b"], out["b_stderr"] = mc.p, mc.stderr
    lap("b")
    out["c"] = inf.conditional(model, x, index)
    lap("c")
    later = [est.conditional_on_later_pixels(model, x[k:k + 1], index, b["later_prefixes"], generator)
             for k in range(len(x))]
    out["d"], out["d_ess"] = torch.stack([r.p for r in later]), torch.stack([r.ess for r in later])
    lap("d")
    out["e"] = inf.full_conditional(model, x, index)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=HALF, generator=generator, progress=True).cpu()
    lap("f")
    proposals = sample(model, b["top_proposals"], stop=HALF, generator=generator, progress=True).cpu()
    tops = [est.complete_top_half_sir(model, x[k:k + 1], proposals, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]), torch.stack([t.ess for t in tops])
    lap("g")
    out["empirical_first"] = torch.bincount(test.flatten(1)[:, 0].long(), minlength=256)
    out["empirical_middle"] = torch.bincount(test.flatten(1)[:, index].long(), minlength=256)
    out["seconds"] = seconds
    return out


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
class Heldout:
    """The probability the marginal (test-set histogram), (c) and (e) give the true middle value of
    held-out test images."""

    inputs: dict  # ``heldout.inputs()``: the model, the pixel, the held-out test images
    true: torch.Tensor
    marginal: torch.Tensor
    c: torch.Tensor
    e: torch.Tensor


def _heldout_inputs() -> dict:
    """Everything ``heldout`` depends on."""
    return {"model": identity(MODEL), "pixel": list(MIDDLE), "images": list(budget()["heldout_images"]),
            "check": "true value"}


@cache.declare("q3-heldout", Heldout, _heldout_inputs)
def heldout(inputs: dict) -> dict:
    """The held-out check of (c) and (e) (a minute on a CPU)."""
    model, test = load_identity(inputs["model"], default_device()), load_images("test")
    index = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    x, rows = test[inputs["images"]].long(), torch.arange(len(inputs["images"]))
    true = x.flatten(1)[:, index]
    frequency = torch.bincount(test.flatten(1)[:, index].long(), minlength=256).double() / len(test)
    return {"true": true, "marginal": frequency[true], "c": inf.conditional(model, x, index)[rows, true],
            "e": inf.full_conditional(model, x, index)[rows, true]}
