"""Q3's approximations checked against exact answers, on tiny models whose every image can be enumerated.

``tiny_model`` is the one tiny model of both checks: a randomly initialised simple PixelCNN on binary
images. ``convergence`` runs every estimator of chapter 3 on 3x3 images, its budget counted in samples
(or Gibbs sweeps) per estimate; ``tiny_mcmc`` runs the MCMC chains beside them on 4x4 images with a
mismatched reverse model, its budget counted in single-image forward passes (the chains' cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core import diagnostics
from ..core import estimators as est
from ..core import inference as inf
from ..core.models import PixelCNNBase, build
from ..core.sampling import sample
from ..study import cache
from ..study.runs import budget

TINY_ARCH = {"arch": "simple", "levels": 2, "channels": 8, "layers": 2, "first_kernel_size": 3}  # ``models.build``'s


def top_half(image: torch.Tensor) -> int:
    """The raster index of the first pixel of an image's bottom half [..., H, W]: its top half is unknown."""
    return (image.shape[-2] // 2) * image.shape[-1]


def tiny_model(seed: int, sharpness: float = 1.0, **spec) -> PixelCNNBase:
    """The tiny model: ``TINY_ARCH`` (changed by ``spec``, e.g. ``levels=3``) initialised from ``seed``, its output
    weights scaled by ``sharpness``: at 1 its conditionals are spread over many images (the estimators have
    real work to do); larger makes them depend strongly on the context."""
    torch.manual_seed(seed)
    model = build(**{**TINY_ARCH, **spec}).eval()
    if sharpness != 1:
        with torch.no_grad():
            model.out.weight.mul_(sharpness)
            model.out.bias.mul_(sharpness)
    return model


def fit_to_distribution(model: PixelCNNBase, images: torch.Tensor, probs: torch.Tensor, steps: int = 500,
                        lr: float = 2e-2) -> PixelCNNBase:
    """Fit ``model`` to an exact distribution over enumerated tiny ``images`` (cross-entropy, Adam).

    Used to make the reverse-order model of a tiny forward model: ``images`` rotated, ``probs`` the
    forward model's exact probabilities.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(images).float()
        nll = F.cross_entropy(logits, images.long(), reduction="none").flatten(1).sum(1)
        (probs.float() * nll).sum().backward()
        optimizer.step()
    return model.eval()


# --- Every estimator on 3x3 binary images ------------------------------------------------------------

CONVERGENCE_METHODS = ["b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs", "d_reverse", "g_reverse"]
TINY_SPEC = {**TINY_ARCH, "size": 3}


@dataclass(frozen=True)
class Convergence:
    """Total-variation error of each approximation against enumeration, averaged over the conditioning images
    and the repeats: [K] per budget n of ``budgets`` for the sampling methods, one number for the reverse
    model's own answers (``d_reverse``, ``g_reverse``)."""

    inputs: dict  # ``convergence.inputs()``: the tiny model's spec, the budgets, the repeats, the seed
    images: torch.Tensor  # long [3, 1, 3, 3]: the conditioning images, samples of the tiny model
    reverse_kl_bits: torch.Tensor  # KL(forward || reverse) in bits: how far the fitted reverse model stays
    budgets: torch.Tensor  # long [K]
    b: torch.Tensor  # Monte Carlo marginal of the middle pixel
    d: torch.Tensor  # importance sampling of the middle pixel given the later ones, n prior prefixes
    d_reverse_is: torch.Tensor  # the same with n reverse-model proposals
    g: torch.Tensor  # the top half given the bottom by SIR with n prior proposals (4n draws)
    g_reverse_is: torch.Tensor  # the same with n reverse-model proposals
    g_gibbs: torch.Tensor  # n Gibbs sweeps
    d_reverse: torch.Tensor  # the reverse model alone
    g_reverse: torch.Tensor


def _convergence_inputs(seed: int = 0) -> dict:
    """Everything ``convergence`` depends on."""
    b = budget()["convergence"]
    return {"model": TINY_SPEC, "budgets": list(b["budgets"]), "repeats": b["repeats"], "seed": seed,
            "methods": CONVERGENCE_METHODS}


@cache.declare("q3-convergence", Convergence, _convergence_inputs)
def convergence(inputs: dict) -> dict:
    """Errors of the Q3 approximations against exact enumeration on the tiny model (``tiny_model``) of 3x3
    binary images (sharpness 1: its mass spread over many of the 512 images). Conditioning images are three
    of its own samples; its reverse-order model is fitted to its exact distribution."""
    spec, seed = inputs["model"], inputs["seed"]
    architecture, size = {k: v for k, v in spec.items() if k != "size"}, (spec["size"], spec["size"])
    model = tiny_model(seed, **architecture)
    images = sample(model, 3, size=size, generator=torch.Generator().manual_seed(seed))
    # Its reverse-order model: the same architecture fitted to its exact distribution, rotated.
    everything = inf.all_images(spec["levels"], size)
    log_p = inf.log_prob(model, everything).double()
    reverse = fit_to_distribution(build(**architecture), inf.rotate(everything), log_p.exp())
    kl = (log_p.exp() * (log_p - inf.log_prob(reverse, inf.rotate(everything)).double())).sum()
    return {"images": images, "reverse_kl_bits": kl / math.log(2),
            **_errors(model, reverse, images, inputs["budgets"], inputs["repeats"], seed)}


def _errors(model, reverse_model, images: torch.Tensor, budgets: list[int], repeats: int,
            seed: int) -> dict[str, torch.Tensor]:
    """Total-variation error of each approximation against enumeration, averaged over images and repeats,
    per budget n: (b) Monte Carlo marginal of the middle pixel; (d) importance sampling of the middle
    pixel given the later pixels with n prior prefixes (``d``) or n reverse-model proposals
    (``d_reverse_is``); (g) the top half given the bottom by SIR with n prior proposals (``g``) or n
    reverse-model proposals (``g_reverse_is``), 4n draws each, or by n Gibbs sweeps (``g_gibbs``).
    ``d_reverse`` and ``g_reverse`` are the reverse model's own answers (no sampling: one error each).
    """
    height, width = images.shape[-2:]
    index, half, pixels = inf.raster_index((height // 2, width // 2), width), (height // 2) * width, height * width
    generator, tv = torch.Generator().manual_seed(seed), diagnostics.total_variation
    exact_b = inf.exact_pixel_distribution(model, images[:1], index, "nothing")
    cases, frequencies = [], lambda drawn, c: inf.state_frequencies(drawn, c["candidates"], half, model.levels)
    for image in images:
        image = image.unsqueeze(0)
        candidates, p = inf.exact_top_half_posterior(model, image)
        q = inf.pixel_log_probs(reverse_model, inf.rotate(candidates))[:, pixels - half:].sum(1).double().exp()
        cases.append({"image": image, "d": inf.exact_pixel_distribution(model, image, index, "after"),
                      "candidates": candidates, "p": p, "q": q})
    fixed = {"d_reverse": torch.stack([tv(inf.reverse_conditional(reverse_model, c["image"], index)[0], c["d"])
                                       for c in cases]).mean(),
             "g_reverse": torch.stack([tv(c["q"], c["p"]) for c in cases]).mean()}
    names = ("b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs")
    errors: dict[str, list] = {name: [] for name in names}
    for n in budgets:
        found: dict[str, list] = {name: [] for name in names}
        for _ in range(repeats):
            found["b"].append(tv(est.marginal_monte_carlo(model, index, n, generator, (height, width)).p, exact_b))
            for c in cases:
                image = c["image"]
                found["d"].append(tv(est.conditional_on_later_pixels(model, image, index, n, generator).p, c["d"]))
                r = est.reverse_proposals(model, reverse_model, image, index + 1, n, generator)
                found["d_reverse_is"].append(tv(est.weighted_pixel_distribution(r.samples, r.weights, index,
                                                                                 model.levels), c["d"]))
                proposals = sample(model, n, stop=half, size=(height, width), generator=generator)
                drawn = est.complete_given_later(model, image, proposals, top_half(image), 4 * n, generator).samples
                found["g"].append(tv(frequencies(drawn, c), c["p"]))
                r = est.reverse_proposals(model, reverse_model, image, half, n, generator)
                drawn = est.resample(r.samples, r.weights, 4 * n, generator)
                found["g_reverse_is"].append(tv(frequencies(drawn, c), c["p"]))
                start = image.clone()
                start.view(-1)[:half] = proposals[0].view(-1)[:half]
                chain = est.gibbs(model, start, list(range(half)), n, generator)
                found["g_gibbs"].append(tv(frequencies(chain, c), c["p"]))
        for name in names:
            errors[name].append(torch.stack(found[name]).double().mean())
    return {"budgets": torch.tensor(budgets), **{k: torch.stack(v) for k, v in errors.items()}, **fixed}
