"""The named runs of the report and ``load(name)``.

``q1`` is the chosen simple configuration, ``q2`` the same recipe with the non-causal first layer,
``search-*`` the equal-budget configuration search of Q1. With the environment variable
``PIXELCNN_PROFILE=smoke`` every run becomes a tiny one (a few steps on a few images), so the
whole pipeline can be exercised quickly from an empty cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch

from . import cache
from .config import Config

SEARCH_STEPS = 200
SEARCH = {
    "search-base": Config(layers=5, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-deep": Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-kernel5": Config(layers=5, channels=64, kernel_size=5, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-wide": Config(layers=5, channels=96, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
}
# The training recipe at equal images: the deep configuration with smaller batches (more updates per image).
RECIPE = {"recipe-batch32": SEARCH["search-deep"].replace(batch_size=32, max_steps=SEARCH_STEPS * 4)}
# Q1: the deep configuration trained with batch 32 for 8 epochs (1563 steps each). ``q1-first`` is the
# first, shorter recipe (batch 128, 4 epochs) that ``q2`` shares exactly.
Q1_FIRST = Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=391 * 4, lr=2e-3)
Q1 = Q1_FIRST.replace(batch_size=32, max_steps=1563 * 8)
# The reverse-order model of Q3: Q1's recipe on images rotated by 180 degrees, 2 epochs.
REVERSE = Q1.replace(reverse=True, max_steps=1563 * 2)
# Tiny models on 3x3 binary images, small enough to enumerate all 512 images exactly (Q2).
TINY = Config(image_size=3, levels=2, channels=16, layers=2, kernel_size=3, first_kernel_size=3, batch_size=256,
              max_steps=300, warmup_steps=20, lr=5e-3, precision="32-true")
RUNS = {**SEARCH, **RECIPE, "q1": Q1, "q1-first": Q1_FIRST, "q2": Q1_FIRST.replace(arch="noncausal"),
        "reverse": REVERSE,
        "tiny-causal": TINY, "tiny-noncausal": TINY.replace(arch="noncausal")}

SMOKE = {"train_images": 256, "eval_images": 128, "batch_size": 32, "max_steps": 8, "warmup_steps": 2,
         "channels": 8, "precision": "32-true"}


def profile() -> str:
    """``full`` (default) or ``smoke``, from the environment variable PIXELCNN_PROFILE."""
    value = os.environ.get("PIXELCNN_PROFILE", "full")
    if value not in ("full", "smoke"):
        raise ValueError(f"PIXELCNN_PROFILE must be 'full' or 'smoke', got {value!r}")
    return value


def config(name: str) -> Config:
    """The config of the named run under the current profile."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; known runs: {', '.join(RUNS)} (and 'pretrained' for load)")
    run = RUNS[name]
    return run.replace(**SMOKE, layers=min(run.layers, 2)) if profile() == "smoke" else run


def command(name: str) -> str:
    """The shell command that computes the named run."""
    return f"python -m pixelcnn train {name}"


def trained(name: str) -> cache.Entry:
    """The cache entry of a named run; trains it only when PIXELCNN_TRAIN=1, else names the command."""
    from .training import train

    run = config(name)
    entry = cache.lookup("train", run.to_dict())
    if entry is None and os.environ.get("PIXELCNN_TRAIN") == "1":
        entry = train(run)
    return entry or cache.require("train", run.to_dict(), command(name))


def default_device() -> torch.device:
    """Where sampling, evaluation and the Q3 computations run: a GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cached_tensors(kind: str, key: dict, compute: Callable[[], dict]) -> dict:
    """A dict of tensors (and plain numbers) computed by ``compute()``, cached under (kind, key)."""

    def produce(folder) -> dict:
        torch.save(compute(), folder / "tensors.pt")
        return {}

    entry = cache.lookup(kind, key) or cache.write(kind, key, produce)
    return torch.load(entry.path("tensors.pt"), weights_only=True)


def samples(name: str, n: int = 64, seed: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """``n`` unconditional samples of a named model (fast exact sampler, on ``device``), cached."""
    from .sampling import sample

    key = {"model": name if name == "pretrained" else config(name).to_dict(), "n": n, "seed": seed}

    def compute() -> dict:
        return {"samples": sample(load(name), n, generator=torch.Generator().manual_seed(seed), progress=True,
                                  device=device or default_device())}

    return cached_tensors("samples", key, compute)["samples"]


# Q3: the model, the pixel, the conditioning test images and the Monte Carlo budgets.
Q3_MODEL, MIDDLE, Q3_IMAGES = "pretrained", (14, 14), (0, 1, 2, 3)
Q3_BUDGET = {"marginal_prefixes": 256, "later_prefixes": 16, "completions": 8, "top_proposals": 512}
Q3_SMOKE_BUDGET = {"marginal_prefixes": 4, "later_prefixes": 2, "completions": 2, "top_proposals": 4}


def q3_budget() -> dict[str, int]:
    """The Q3 Monte Carlo budgets under the current profile."""
    return Q3_SMOKE_BUDGET if profile() == "smoke" else Q3_BUDGET


def q3_results(seed: int = 0, device: torch.device | None = None) -> dict:
    """Every Q3 quantity for the conditioning test images (cached; minutes on a CPU to compute, on ``device``)."""
    budget, images = q3_budget(), Q3_IMAGES[:1] if profile() == "smoke" else Q3_IMAGES
    key = {"model": Q3_MODEL, "pixel": list(MIDDLE), "images": list(images), "budget": budget, "seed": seed}
    return cached_tensors("estimate", key, lambda: _compute_q3(images, budget, seed, device or default_device()))


HELDOUT = range(100, 164)  # test images for the held-out check of (c) and (e), none of them in Q3_IMAGES


def q3_heldout() -> dict:
    """The probability (c) and (e) give the true middle value of held-out test images, and the
    test-set frequency of that value (cached; a minute on a CPU)."""
    from . import inference as inf
    from .data import load_images

    images = list(HELDOUT)[:2] if profile() == "smoke" else list(HELDOUT)
    key = {"model": Q3_MODEL, "pixel": list(MIDDLE), "images": images, "check": "true value"}

    def compute() -> dict:
        model, test = load(Q3_MODEL).to(default_device()), load_images("test")
        x, rows = test[images].long(), torch.arange(len(images))
        true = x[:, 0, MIDDLE[0], MIDDLE[1]]
        frequency = torch.bincount(test[:, 0, MIDDLE[0], MIDDLE[1]].long(), minlength=256).double() / len(test)
        return {"true": true, "marginal": frequency[true], "c": inf.conditional(model, x, MIDDLE)[rows, true],
                "e": inf.full_conditional(model, x, MIDDLE)[rows, true]}

    return cached_tensors("estimate", key, compute)


Q3_REVERSE_BUDGET, Q3_REVERSE_SMOKE_BUDGET = {"proposals": 512}, {"proposals": 4}


def q3_reverse_results(seed: int = 0, device: torch.device | None = None) -> dict:
    """(d) and (g) with the reverse-order model: its own answers, and as the proposal of importance
    sampling for the forward model (cached; minutes on a CPU). Also the forward model's bits/dim of
    every set of (g) completions, the SIR ones of ``q3_results`` included."""
    images = Q3_IMAGES[:1] if profile() == "smoke" else Q3_IMAGES
    budget = Q3_REVERSE_SMOKE_BUDGET if profile() == "smoke" else Q3_REVERSE_BUDGET
    key = {"model": Q3_MODEL, "reverse": config("reverse").to_dict(), "pixel": list(MIDDLE),
           "images": list(images), "budget": budget, "seed": seed}
    return cached_tensors("estimate", key,
                          lambda: _compute_q3_reverse(images, budget["proposals"], seed, device or default_device()))


CONVERGENCE_BUDGETS = (4, 16, 64, 256, 1024)


def q3_convergence(seed: int = 0) -> dict:
    """Errors of the Q3 approximations against exact enumeration on a tiny model (cached).

    The model is a randomly initialised simple PixelCNN on 3x3 binary images: its distribution is
    spread over many of the 512 images, so the estimators have real work to do. Conditioning
    images are three of its own samples. Its reverse-order model is fitted to its exact
    distribution (``reverse_kl_bits``: how far the fit stays from it).
    """
    from . import inference as inf
    from .models import build
    from .sampling import sample

    budgets, repeats = (CONVERGENCE_BUDGETS[:2], 1) if profile() == "smoke" else (CONVERGENCE_BUDGETS, 5)
    spec = {"arch": "simple", "levels": 2, "channels": 8, "layers": 2, "first_kernel_size": 3, "size": 3}

    def compute() -> dict:
        torch.manual_seed(seed)
        kwargs, size = {k: v for k, v in spec.items() if k not in ("arch", "size")}, spec["size"]
        model = build(spec["arch"], **kwargs).eval()
        images = sample(model, 3, size=(size, size), generator=torch.Generator().manual_seed(seed))
        # Its reverse-order model: the same architecture fitted to its exact distribution, rotated.
        everything = inf.all_images(spec["levels"], size, size)
        log_p = inf.log_prob(model, everything).double()
        reverse = inf.fit_to_distribution(build(spec["arch"], **kwargs), inf.rotate(everything), log_p.exp())
        kl = (log_p.exp() * (log_p - inf.log_prob(reverse, inf.rotate(everything)).double())).sum()
        return {"images": images, "reverse_kl_bits": kl / math.log(2),
                **inf.convergence(model, reverse, images, list(budgets), repeats, seed)}

    methods = ["b", "d", "d_reverse_is", "g", "g_reverse_is", "g_gibbs", "d_reverse", "g_reverse"]
    key = {"model": spec, "budgets": list(budgets), "repeats": repeats, "seed": seed, "methods": methods}
    return cached_tensors("estimate", key, compute)


def evaluation(name: str) -> dict[str, float]:
    """Validation and test bits/dim of a model on the full MNIST splits (cached)."""
    from .data import load_images
    from .training import evaluate

    n = SMOKE["eval_images"] if profile() == "smoke" else 10_000

    def produce(folder) -> dict:
        model = load(name)
        return {f"{split}_bpd": evaluate(model, load_images(split)[:n], progress=True, device=default_device())
                for split in ("val", "test")}

    key = {"model": name if name == "pretrained" else config(name).to_dict(), "images": n}
    entry = cache.lookup("evaluate", key) or cache.write("evaluate", key, produce)
    return entry.metrics


def _compute_q3(images: tuple[int, ...], budget: dict, seed: int, device: torch.device) -> dict:
    import time

    from . import inference as inf
    from .data import load_images
    from .sampling import sample

    model, generator = load(Q3_MODEL).to(device), torch.Generator().manual_seed(seed)
    test = load_images("test")
    x = test[list(images)].long()
    half, n = 14 * 28, budget["completions"]
    out, seconds, clock = {"images": x}, {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name], clock = time.perf_counter() - clock, time.perf_counter()

    out["a"] = inf.conditional(model, torch.zeros(1, 1, 28, 28, dtype=torch.long), (0, 0))[0]
    lap("a")
    mc = inf.marginal_monte_carlo(model, MIDDLE, budget["marginal_prefixes"], generator)
    out["b"], out["b_stderr"] = mc["p"], mc["stderr"]
    lap("b")
    out["c"] = inf.conditional(model, x, MIDDLE)
    lap("c")
    later = [inf.conditional_on_later_pixels(model, x[k:k + 1], MIDDLE, budget["later_prefixes"], generator)
             for k in range(len(x))]
    out["d"], out["d_ess"] = torch.stack([r["p"] for r in later]), torch.stack([r["ess"] for r in later])
    lap("d")
    out["e"] = inf.full_conditional(model, x, MIDDLE)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=half, generator=generator, progress=True)
    lap("f")
    proposals = sample(model, budget["top_proposals"], stop=half, generator=generator, progress=True)
    tops = [inf.complete_top_half_sir(model, x[k:k + 1], proposals, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t["samples"] for t in tops]), torch.stack([t["ess"] for t in tops])
    lap("g")
    out["empirical_first"] = torch.bincount(test[:, 0, 0, 0].long(), minlength=256)
    out["empirical_middle"] = torch.bincount(test[:, 0, MIDDLE[0], MIDDLE[1]].long(), minlength=256)
    out["seconds"] = seconds
    return out


def _compute_q3_reverse(images: tuple[int, ...], proposals: int, seed: int, device: torch.device) -> dict:
    import time

    from . import inference as inf
    from .data import load_images
    from .models import bits_per_dim

    model, reverse = load(Q3_MODEL).to(device), load("reverse").to(device)
    generator = torch.Generator().manual_seed(seed)
    x = load_images("test")[list(images)].long()
    n, half, m = q3_budget()["completions"], 14 * 28, inf.raster_index(MIDDLE)
    out: dict = {"d_reverse": inf.reverse_conditional(reverse, x, MIDDLE)}
    seconds = {"d_reverse": 0.0, "d_reverse_is": 0.0, "g_reverse_is": 0.0}
    d, d_ess, g_reverse, g, g_ess = [], [], [], [], []
    for k in range(len(x)):
        clock = time.perf_counter()
        r = inf.reverse_proposals(model, reverse, x[k:k + 1], m + 1, proposals, generator, progress=True)
        d.append(inf.weighted_pixel_distribution(r["samples"], r["weights"], MIDDLE, model.levels))
        d_ess.append(r["ess"])
        seconds["d_reverse_is"] += time.perf_counter() - clock
        clock = time.perf_counter()
        r = inf.reverse_proposals(model, reverse, x[k:k + 1], half, proposals, generator, progress=True)
        g_reverse.append(r["samples"][:n])  # the reverse model's own samples, unweighted
        g.append(inf.resample(r["samples"], r["weights"], n, generator))
        g_ess.append(r["ess"])
        seconds["g_reverse_is"] += time.perf_counter() - clock
    out.update(d_reverse_is=torch.stack(d), d_reverse_is_ess=torch.stack(d_ess), g_reverse=torch.cat(g_reverse),
               g_reverse_is=torch.cat(g), g_reverse_is_ess=torch.stack(g_ess), seconds=seconds)
    completions = {"original": x, "g": q3_results(seed)["g"], "g_reverse": out["g_reverse"],
                   "g_reverse_is": out["g_reverse_is"]}
    with torch.no_grad():
        out["forward_bpd"] = {name: bits_per_dim(model, c.to(device)).mean().item() for name, c in completions.items()}
    return out


def load(name: str) -> torch.nn.Module:
    """A trained model in eval mode on CPU: 'pretrained' (the course's) or a named run ('q1', 'q2', ...)."""
    if name == "pretrained":
        from .pretrained import load_pretrained

        return load_pretrained()
    from .training import load_trained

    trained(name)
    return load_trained(config(name), command(name))
