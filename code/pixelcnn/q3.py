"""Q3: what chapter 3 computes, each result cached under the inputs it declares, and its tables.

The quantities (a)-(g) at the middle pixel and the two halves of the course's model (``results``),
the same with the reverse-order model (``reverse_results``), the held-out check of (c) and (e)
(``heldout``), and the check of every approximation against enumeration on a tiny model
(``convergence``). Each ``*_inputs`` function lists everything its result depends on; the cache key
is made of exactly that dict, and the computation is handed that dict alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields

import pandas as pd
import torch

from . import cache
from . import inference as inf
from .data import load_images
from .models import bits_per_dim, build
from .runs import budget, default_device, identity, load_identity
from .sampling import sample

MODEL = "pretrained"  # the model of Q3: the course's (the best likelihood)
MIDDLE = (14, 14)  # the middle pixel (row, col) of a 28x28 image
SIZE = (28, 28)
MIDDLE_INDEX = inf.raster_index(MIDDLE, SIZE[1])
HALF = (SIZE[0] // 2) * SIZE[1]  # raster index of the first pixel of the bottom half


def typed(cls, values: dict):
    return cls(**{f.name: values[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Results:
    """(a)-(g) for the conditioning images, with the test-set histograms and the seconds each took."""

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


def results_inputs(seed: int = 0) -> dict:
    """Everything ``results`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "pixel": list(MIDDLE), "images": list(b["q3_images"]), "budget": b["q3"],
            "seed": seed}


def results(seed: int = 0) -> Results:
    """Every Q3 quantity for the conditioning test images (cached; minutes on a CPU to compute)."""
    return results_from(results_inputs(seed))


def results_from(inputs: dict) -> Results:
    """The results of ``results_inputs``-style ``inputs`` (what a computation that reads them is handed)."""
    return typed(Results, cache.tensors("estimate", inputs, _compute_results))


def _compute_results(inputs: dict) -> dict:
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
    mc = inf.marginal_monte_carlo(model, index, b["marginal_prefixes"], generator, SIZE)
    out["b"], out["b_stderr"] = mc.p, mc.stderr
    lap("b")
    out["c"] = inf.conditional(model, x, index)
    lap("c")
    later = [inf.conditional_on_later_pixels(model, x[k:k + 1], index, b["later_prefixes"], generator)
             for k in range(len(x))]
    out["d"], out["d_ess"] = torch.stack([r.p for r in later]), torch.stack([r.ess for r in later])
    lap("d")
    out["e"] = inf.full_conditional(model, x, index)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=HALF, generator=generator, progress=True).cpu()
    lap("f")
    proposals = sample(model, b["top_proposals"], stop=HALF, generator=generator, progress=True).cpu()
    tops = [inf.complete_top_half_sir(model, x[k:k + 1], proposals, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]), torch.stack([t.ess for t in tops])
    lap("g")
    out["empirical_first"] = torch.bincount(test.flatten(1)[:, 0].long(), minlength=256)
    out["empirical_middle"] = torch.bincount(test.flatten(1)[:, index].long(), minlength=256)
    out["seconds"] = seconds
    return out


@dataclass(frozen=True)
class ReverseResults:
    """(d) and (g) with the reverse-order model, alone and as the proposal for the forward model."""

    d_reverse: torch.Tensor  # [N, 256]: the reverse model's own p(x_middle | after), one pass
    d_reverse_is: torch.Tensor  # [N, 256]: importance sampling of the forward model, reverse proposals
    d_reverse_is_ess: torch.Tensor
    g_reverse: torch.Tensor  # the reverse model's own completions of the top half
    g_reverse_is: torch.Tensor  # SIR completions of the forward model, reverse proposals
    g_reverse_is_ess: torch.Tensor
    forward_bpd: dict  # the forward model's bits/dim of the test images and of every set of (g) completions
    seconds: dict


def reverse_inputs(seed: int = 0) -> dict:
    """Everything ``reverse_results`` depends on (those of ``results`` included: it scores their (g))."""
    return {"reverse": identity("reverse"), "proposals": budget()["reverse_proposals"], "results": results_inputs(seed)}


def reverse_results(seed: int = 0) -> ReverseResults:
    """(d) and (g) with the reverse-order model (cached; minutes on a CPU)."""
    return reverse_results_from(reverse_inputs(seed))


def reverse_results_from(inputs: dict) -> ReverseResults:
    """The reverse results of ``reverse_inputs``-style ``inputs``."""
    return typed(ReverseResults, cache.tensors("estimate", inputs, _compute_reverse))


def _compute_reverse(inputs: dict) -> dict:
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
        r = inf.reverse_proposals(model, reverse, x[k:k + 1], index + 1, proposals, generator, progress=True)
        d.append(inf.weighted_pixel_distribution(r.samples, r.weights, index, model.levels))
        d_ess.append(r.ess)
        seconds["d_reverse_is"] += time.perf_counter() - clock
        clock = time.perf_counter()
        r = inf.reverse_proposals(model, reverse, x[k:k + 1], HALF, proposals, generator, progress=True)
        g_reverse.append(r.samples[:n].cpu())  # the reverse model's own samples, unweighted
        g.append(inf.resample(r.samples, r.weights, n, generator).cpu())
        g_ess.append(r.ess)
        seconds["g_reverse_is"] += time.perf_counter() - clock
    out.update(d_reverse_is=torch.stack(d), d_reverse_is_ess=torch.stack(d_ess), g_reverse=torch.cat(g_reverse),
               g_reverse_is=torch.cat(g), g_reverse_is_ess=torch.stack(g_ess), seconds=seconds)
    completions = {"original": x, "g": results_from(forward).g,
                   "g_reverse": out["g_reverse"], "g_reverse_is": out["g_reverse_is"]}
    with torch.no_grad():
        out["forward_bpd"] = {name: bits_per_dim(model, c.to(device)).mean().item() for name, c in completions.items()}
    return out


@dataclass(frozen=True)
class Heldout:
    """The probability the marginal (test-set histogram), (c) and (e) give the true middle value of
    held-out test images."""

    true: torch.Tensor
    marginal: torch.Tensor
    c: torch.Tensor
    e: torch.Tensor


def heldout_inputs() -> dict:
    """Everything ``heldout`` depends on."""
    return {"model": identity(MODEL), "pixel": list(MIDDLE), "images": list(budget()["heldout_images"]),
            "check": "true value"}


def heldout() -> Heldout:
    """The held-out check of (c) and (e) (cached; a minute on a CPU)."""
    return typed(Heldout, cache.tensors("estimate", heldout_inputs(), _compute_heldout))


def _compute_heldout(inputs: dict) -> dict:
    model, test = load_identity(inputs["model"], default_device()), load_images("test")
    index = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    x, rows = test[inputs["images"]].long(), torch.arange(len(inputs["images"]))
    true = x.flatten(1)[:, index]
    frequency = torch.bincount(test.flatten(1)[:, index].long(), minlength=256).double() / len(test)
    return {"true": true, "marginal": frequency[true], "c": inf.conditional(model, x, index)[rows, true],
            "e": inf.full_conditional(model, x, index)[rows, true]}


# --- The check against enumeration on a tiny model -------------------------------------------------

CONVERGENCE_METHODS = ["b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs", "d_reverse", "g_reverse"]
TINY_SPEC = {"arch": "simple", "levels": 2, "channels": 8, "layers": 2, "first_kernel_size": 3, "size": 3}


def convergence_inputs(seed: int = 0) -> dict:
    """Everything ``convergence`` depends on."""
    b = budget()["convergence"]
    return {"model": TINY_SPEC, "budgets": list(b["budgets"]), "repeats": b["repeats"], "seed": seed,
            "methods": CONVERGENCE_METHODS}


def convergence(seed: int = 0) -> dict[str, torch.Tensor]:
    """Errors of the Q3 approximations against exact enumeration on a tiny model (cached).

    The model is a randomly initialised simple PixelCNN on 3x3 binary images: its distribution is
    spread over many of the 512 images, so the estimators have real work to do. Conditioning
    images are three of its own samples. Its reverse-order model is fitted to its exact
    distribution (``reverse_kl_bits``: how far the fit stays from it).
    """
    return cache.tensors("estimate", convergence_inputs(seed), _compute_convergence)


def _compute_convergence(inputs: dict) -> dict:
    spec, seed = inputs["model"], inputs["seed"]
    torch.manual_seed(seed)
    options, size = {k: v for k, v in spec.items() if k not in ("arch", "size")}, (spec["size"], spec["size"])
    model = build(spec["arch"], **options).eval()
    images = sample(model, 3, size=size, generator=torch.Generator().manual_seed(seed))
    # Its reverse-order model: the same architecture fitted to its exact distribution, rotated.
    everything = inf.all_images(spec["levels"], size)
    log_p = inf.log_prob(model, everything).double()
    reverse = inf.fit_to_distribution(build(spec["arch"], **options), inf.rotate(everything), log_p.exp())
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
    generator, tv = torch.Generator().manual_seed(seed), inf.total_variation
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
            found["b"].append(tv(inf.marginal_monte_carlo(model, index, n, generator, (height, width)).p, exact_b))
            for c in cases:
                image = c["image"]
                found["d"].append(tv(inf.conditional_on_later_pixels(model, image, index, n, generator).p, c["d"]))
                r = inf.reverse_proposals(model, reverse_model, image, index + 1, n, generator)
                found["d_reverse_is"].append(tv(inf.weighted_pixel_distribution(r.samples, r.weights, index,
                                                                                 model.levels), c["d"]))
                proposals = sample(model, n, stop=half, size=(height, width), generator=generator)
                drawn = inf.complete_top_half_sir(model, image, proposals, 4 * n, generator).samples
                found["g"].append(tv(frequencies(drawn, c), c["p"]))
                r = inf.reverse_proposals(model, reverse_model, image, half, n, generator)
                drawn = inf.resample(r.samples, r.weights, 4 * n, generator)
                found["g_reverse_is"].append(tv(frequencies(drawn, c), c["p"]))
                start = image.clone()
                start.view(-1)[:half] = proposals[0].view(-1)[:half]
                chain = inf.gibbs(model, start, list(range(half)), n, generator)
                found["g_gibbs"].append(tv(frequencies(chain, c), c["p"]))
        for name in names:
            errors[name].append(torch.stack(found[name]).double().mean())
    return {"budgets": torch.tensor(budgets), **{k: torch.stack(v) for k, v in errors.items()}, **fixed}


# --- The tables of chapter 3 -----------------------------------------------------------------------


def distinct(samples: torch.Tensor, per_image: int) -> list[int]:
    """How many different images there are among each conditioning image's ``per_image`` samples."""
    return [len(torch.unique(s.flatten(1), dim=0)) for s in samples.split(per_image)]


def comparison_table(r: Results, rr: ReverseResults) -> pd.DataFrame:
    """The methods for (d) and (g) side by side, one column per conditioning image."""
    rows, true = torch.arange(len(r.images)), r.images.flatten(1)[:, MIDDLE_INDEX]
    q3, n, proposals = budget()["q3"], budget()["q3"]["completions"], budget()["reverse_proposals"]
    measures = [  # (what, values per image, format)
        (f"(d) ESS, prior prefixes (of {q3['later_prefixes']})", r.d_ess.tolist(), ".1f"),
        (f"(d) ESS, reverse proposals (of {proposals})", rr.d_reverse_is_ess.tolist(), ".1f"),
        ("(d) p(true value), IS with prior prefixes", r.d[rows, true].tolist(), ".3f"),
        ("(d) p(true value), reverse model alone", rr.d_reverse[rows, true].tolist(), ".3f"),
        ("(d) p(true value), IS with reverse proposals", rr.d_reverse_is[rows, true].tolist(), ".3f"),
        ("(d) total variation: IS prior vs IS reverse", inf.total_variation(r.d, rr.d_reverse_is).tolist(), ".3f"),
        ("(d) total variation: reverse alone vs IS reverse",
         inf.total_variation(rr.d_reverse, rr.d_reverse_is).tolist(), ".3f"),
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


def time_table(r: Results, rr: ReverseResults) -> pd.DataFrame:
    """Seconds each quantity took for all conditioning images, as recorded when it was computed."""
    labels = {"d_reverse": "(d) reverse model alone", "d_reverse_is": "(d) IS with reverse proposals",
              "g_reverse_is": "(g) reverse model alone and SIR with its proposals"}
    return pd.DataFrame([{"quantity": f"({k})", "seconds": v} for k, v in r.seconds.items()]
                        + [{"quantity": label, "seconds": rr.seconds[k]} for k, label in labels.items()])
