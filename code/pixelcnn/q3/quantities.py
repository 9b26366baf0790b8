"""Q3's seven quantities (a)-(g) at the middle pixel, one method each, and the held-out check of the exact ones:
cached results, each declared once (``cache.declare``) and carrying the inputs it was computed from.

``results``: (a), (c), (e) exact, (b) by Monte Carlo over the model's prefixes, (d) by importance sampling with
prior prefixes, (f) by ancestral sampling, (g) by SIR with prior proposals. ``heldout``: the probability the
test-set histogram, (c) and (e) give the true middle value of held-out test images.
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
from ..study.runs import budget, default_device, identity, load_identity
from .setting import HALF, MIDDLE, MODEL, SIZE


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
    tops = [est.complete_given_later(model, x[k:k + 1], proposals, HALF, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]), torch.stack([t.ess for t in tops])
    lap("g")
    out["empirical_first"] = torch.bincount(test.flatten(1)[:, 0].long(), minlength=256)
    out["empirical_middle"] = torch.bincount(test.flatten(1)[:, index].long(), minlength=256)
    out["seconds"] = seconds
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
