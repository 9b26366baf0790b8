"""The named runs of the report: their configs, the budgets of every profile, and the trained models.

``q1`` is the Q1 model (the chosen simple configuration), ``q2`` the recipe of ``q1-first`` with the non-causal
first layer, ``search-*`` the equal-budget configuration search of Q1. ``PIXELCNN_PROFILE=smoke`` shrinks every
run and every Monte Carlo budget (one table, ``BUDGETS``), so the whole pipeline can be exercised
quickly from an empty cache.

A result computed from a model declares that model by ``identity(name)``: the run's config (which
names its cache entry), or ``"pretrained"`` for the course's checkpoint (pinned by its sha256).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

from . import cache
from .config import Config
from .data import load_images

SEARCH_STEPS = 200
SEARCH = {
    "search-base": Config(layers=5, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-deep": Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-kernel5": Config(layers=5, channels=64, kernel_size=5, first_kernel_size=7, max_steps=SEARCH_STEPS),
    "search-wide": Config(layers=5, channels=96, kernel_size=3, first_kernel_size=7, max_steps=SEARCH_STEPS),
}
# Every comparison over seeds trains each of its configurations with these seeds (initialisation and data
# order): how large a gap between two configurations can be by chance. ``name`` is the first seed's run,
# ``name-seed43`` the next (``seed_runs``).
SEEDS = (42, 43, 44)
SEARCH_REPEATS = {f"{name}-seed{seed}": c.replace(seed=seed) for name, c in SEARCH.items() for seed in SEEDS[1:]}
SEARCH_SEEDS = SEEDS  # the seeds the search reads
# The training recipe at equal images: the deep configuration with smaller batches (more updates per image).
RECIPE = {"recipe-batch32": SEARCH["search-deep"].replace(batch_size=32, max_steps=SEARCH_STEPS * 4)}
EPOCH_STEPS = {128: 391, 32: 1563}  # optimizer steps per epoch of the 50,000 training images, by batch size
# Q1: the deep configuration. ``q1-first`` is the first, shorter recipe (batch 128, 4 epochs) that ``q2`` shares
# exactly; ``q1-batch32`` the second (batches of 32, 8 epochs), which jumped near its peak rate.
Q1_FIRST = Config(layers=9, channels=64, kernel_size=3, first_kernel_size=7, max_steps=EPOCH_STEPS[128] * 4, lr=2e-3)
Q1_BATCH32 = Q1_FIRST.replace(batch_size=32, max_steps=EPOCH_STEPS[32] * 8)
# Gated against ungated at equal depth (7 layers, as the course's gated model) under one recipe: the
# search's budget of steps, with the batch size and learning rate of ``q1-first``; each with the search's seeds.
EQUAL_DEPTH = {"depth7-simple": Q1_FIRST.replace(layers=7, max_steps=SEARCH_STEPS),
               "depth7-gated": Config(arch="gated", channels=Q1_FIRST.channels, lr=Q1_FIRST.lr,
                                      batch_size=Q1_FIRST.batch_size, max_steps=SEARCH_STEPS)}
EQUAL_DEPTH_REPEATS = {f"{name}-seed{seed}": c.replace(seed=seed) for name, c in EQUAL_DEPTH.items()
                       for seed in SEEDS[1:]}
# For a comparison at equal time, the ungated run's schedule stretched to end when the gated run's does: 297
# steps take as long at depth7-simple's side-by-side throughput as the gated run's 200 at its own (the
# rates of the benchmark entry; chapter 1 is to check the match when it shows these runs).
EQUAL_TIME_STEPS = 297
EQUAL_TIME = {f"depth7-simple-equal-time{suffix}": c.replace(max_steps=EQUAL_TIME_STEPS)
              for suffix, c in (("", EQUAL_DEPTH["depth7-simple"]),
                                *((f"-seed{seed}", EQUAL_DEPTH["depth7-simple"].replace(seed=seed))
                                  for seed in SEEDS[1:]))}
# The batch study: the deep configuration on the same images (the search's budget at batch 128) in batches of
# 32 and of 128, each warming up over an eighth of its steps, at three peak learning rates.
BATCH_IMAGES = SEARCH_STEPS * 128
BATCH_SIZES = (32, 128)
BATCH_STUDY = {f"batch{b}-lr{lr:g}": SEARCH["search-deep"].replace(
    batch_size=b, max_steps=BATCH_IMAGES // b, warmup_steps=BATCH_IMAGES // b // 8, lr=lr)
    for b in BATCH_SIZES for lr in (1e-3, 2e-3, 4e-3)}
# The longer run of the chosen configuration with the recipe the batch study supports (batches of 32, the
# study's best peak rate, a warm-up over an eighth of the steps), for 16 epochs. It diverged for a while at that
# rate and ended above ``q1-batch32`` (chapter 1, "Training the chosen model").
Q1_LONG = Q1_BATCH32.replace(lr=4e-3, max_steps=EPOCH_STEPS[32] * 16, warmup_steps=EPOCH_STEPS[32] * 16 // 8)
# The Q1 model: the same 16 epochs with two guards against that divergence, the second recipe's peak rate (half the
# study's best) and the gradient's norm clipped to 1 (the order of a batch's gradient norm late in a run: only
# outsized steps are cut).
Q1 = Q1_LONG.replace(lr=Q1_BATCH32.lr, grad_clip=1.0)
# The reverse-order model of Q3: the Q1 architecture with batch 32 on images rotated by 180 degrees, 2 epochs.
REVERSE = Q1_FIRST.replace(batch_size=32, max_steps=EPOCH_STEPS[32] * 2, reverse=True)
# Tiny models on 3x3 binary images, small enough to enumerate all 512 images exactly (Q2).
TINY = Config(image_size=3, levels=2, channels=16, layers=2, kernel_size=3, first_kernel_size=3, batch_size=256,
              max_steps=300, warmup_steps=20, lr=5e-3, precision="32-true")
RUNS = {**SEARCH, **SEARCH_REPEATS, **RECIPE, **EQUAL_DEPTH, **EQUAL_DEPTH_REPEATS, **EQUAL_TIME, **BATCH_STUDY,
        "q1": Q1, "q1-first": Q1_FIRST, "q1-batch32": Q1_BATCH32, "q1-long": Q1_LONG,
        "q2": Q1_FIRST.replace(arch="noncausal"), "reverse": REVERSE, "tiny-causal": TINY,
        "tiny-noncausal": TINY.replace(arch="noncausal")}

# Everything that depends on the profile, in one table.
BUDGETS = {
    "full": {
        "runs": {},  # changes to every run's config
        "max_layers": None,
        "eval_images": 10_000,  # validation and test images of an evaluation
        "q3_images": (0, 1, 2, 3),  # the conditioning test images of Q3
        "q3": {"marginal_prefixes": 256, "later_prefixes": 16, "completions": 8, "top_proposals": 512},
        "reverse_proposals": 512,
        "heldout_images": tuple(range(100, 164)),  # test images for the held-out check, none of them in q3_images
        "convergence": {"budgets": (4, 16, 64, 256, 1024), "repeats": 5},
        # MCMC for (d) and (g): chains per start (three starts) and image, sweeps (saved every chunk;
        # (d)'s full conditional after each chunk), the sweeps discarded, the (d) images (middle pixel
        # black, on a stroke, on an edge) and the seeds of the (d) estimators.
        "mcmc": {"chains_per_start": 3, "sweeps": 12, "chunk": 4, "burn_in": 4, "d_images": (0, 2, 6),
                 "seeds": (0, 1, 2)},
        # The MCMC check against enumeration: 4x4 binary images (256 top halves), a mismatched reverse model.
        "tiny_mcmc": {"seed": 1, "budgets": [2**10, 2**12, 2**14, 2**16], "size": [4, 4], "chains": 16},
        # The (d) and (g) chains with block moves (q3.mcmc_runs): per sweep, each (proposal, rows) of the schedule
        # over the unknown pixels in blocks of that many rows (0: all of them at once, an independence move),
        # then `sites` single-site updates at random unknown pixels; saved every chunk of sweeps.
        "blocks": {"schedule": (("forward", 1), ("reverse", 0)), "sites": 4, "sweeps": 40, "chunk": 4},
        # Tempering from the prior (q3.tempering_runs): particles per image, the moves of a sweep at each temperature
        # (as "blocks", with the forward independence move first), the sweeps per step and the conditional ESS
        # each step keeps; the seeds of the runs whose agreement is the check; fewer particles per image for
        # (d), to see how the runs' agreement grows with them.
        "tempering": {"particles": 64, "schedule": (("forward", 0), ("forward", 1), ("reverse", 0)), "sites": 4,
                      "sweeps": 2, "ess_target": 0.5, "seeds": (0, 1), "fewer_particles": (8, 16, 32)},
        # Many small tempering runs (q3.tempering_runs.small_runs), each with its own evidence, combined by it: the
        # temperatures frozen from the pilot run (the 64-particle run of ``pilot_seed``, each step cut in
        # ``refine``), resampling at every step, no reverse move (never accepted in the runs above). Seeds 100 on;
        # more runs add seeds (each run is its own entry, keyed by its seed).
        "tempering_runs": {"particles": 16, "seeds": (100, 101, 102), "pilot_seed": 0,
                           "refine": 1, "schedule": (("forward", 0), ("forward", 1)), "sites": 4, "sweeps": 2},
        "benchmark_small": False,  # the benchmark in miniature (computed when missing)
        # Any conditioning image explored (the HTML's interactive figure, the notebook's panel): the test
        # images (``q3.explorer.choose_images``: the first two of every digit whose middle pixel is black, on a
        # stroke, on an edge), the reverse-model proposals of (d), the completions of (f) and (g) per image
        # and the prior proposals of (g), one pool shared by the images.
        "explore": {"images": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 27,
                               30, 34, 35, 38, 42, 43, 50, 52, 61, 62, 64, 81, 84, 87, 88, 90, 97, 102, 107, 111,
                               127, 142, 149, 154, 158, 177, 186, 233, 346, 391, 403, 1411, 1748, 4880, 5457, 5642),
                    "reverse_proposals": 16, "completions": 4, "top_proposals": 32},
    },
    "smoke": {
        "runs": {"train_images": 256, "eval_images": 128, "batch_size": 32, "max_steps": 8, "warmup_steps": 2,
                 "channels": 8, "precision": "32-true"},
        "max_layers": 2,
        "eval_images": 128,
        "q3_images": (0,),
        "q3": {"marginal_prefixes": 4, "later_prefixes": 2, "completions": 2, "top_proposals": 4},
        "reverse_proposals": 4,
        "heldout_images": (100, 101),
        "convergence": {"budgets": (4, 16), "repeats": 1},
        "mcmc": {"chains_per_start": 1, "sweeps": 1, "chunk": 1, "burn_in": 0, "d_images": (0, 2, 6), "seeds": (0,)},
        "tiny_mcmc": {"seed": 1, "budgets": [2**9], "size": [4, 4], "chains": 4},
        "blocks": {"schedule": (("forward", 14), ("reverse", 0)), "sites": 1, "sweeps": 2, "chunk": 1},
        "tempering": {"particles": 8, "schedule": (("forward", 0),), "sites": 1, "sweeps": 1, "ess_target": 0.5,
                      "seeds": (0, 1), "fewer_particles": (4,)},
        "tempering_runs": {"particles": 4, "seeds": (100, 101), "pilot_seed": 0, "refine": 1,
                           "schedule": (("forward", 0),), "sites": 1, "sweeps": 1},
        "benchmark_small": True,
        "explore": {"images": (0, 2, 6), "reverse_proposals": 2, "completions": 2, "top_proposals": 2},
    },
}


def profile() -> str:
    """``full`` (default) or ``smoke``, from the environment variable PIXELCNN_PROFILE."""
    value = os.environ.get("PIXELCNN_PROFILE", "full")
    if value not in BUDGETS:
        raise ValueError(f"PIXELCNN_PROFILE must be one of {', '.join(BUDGETS)}, got {value!r}")
    return value


def budget() -> dict:
    """The budgets of the current profile (see ``BUDGETS``)."""
    return BUDGETS[profile()]


def config(name: str) -> Config:
    """The config of the named run under the current profile."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; known runs: {', '.join(RUNS)} (and 'pretrained' for load)")
    run, b = RUNS[name], budget()
    if b["max_layers"] is not None:
        run = run.replace(layers=min(run.layers, b["max_layers"]))
    return run.replace(**b["runs"]) if b["runs"] else run


def seed_runs(name: str, seeds: tuple[int, ...] = SEEDS) -> dict[int, str]:
    """The runs of one configuration with each of ``seeds``: ``name`` (the first seed), ``name-seed43``..."""
    return {seeds[0]: name, **{seed: f"{name}-seed{seed}" for seed in seeds[1:]}}


def command(name: str) -> str:
    """The shell command that computes the named run."""
    return f"python -m pixelcnn train {name}"


def identity(name: str) -> str | dict:
    """What a result computed from model ``name`` depends on: the run's config, or "pretrained"."""
    return "pretrained" if name == "pretrained" else config(name).to_dict()


def names_of(run: str | dict) -> tuple[str, ...]:
    """The named runs whose config (under the current profile) is ``run``, in the order of ``RUNS`` (two names
    can share one config, and so one entry); ("pretrained",) for it; () for none: the inverse of ``identity``."""
    if run == "pretrained":
        return (run,)
    key = json.dumps(run, sort_keys=True)
    return tuple(name for name in RUNS if json.dumps(config(name).to_dict(), sort_keys=True) == key)


def trained(name: str) -> cache.Entry:
    """The cache entry of a named run; trains it only when PIXELCNN_TRAIN=1, else names the command."""
    run = config(name)
    entry = cache.lookup("train", run.to_dict())
    if entry is None and os.environ.get("PIXELCNN_TRAIN") == "1":
        from .training import train

        entry = train(run)
    return entry or cache.require("train", run.to_dict(), command(name))


def default_device() -> torch.device:
    """Where sampling, evaluation and the Q3 computations run: a GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load(name: str, device: torch.device | None = None) -> torch.nn.Module:
    """A trained model in eval mode: 'pretrained' (the course's) or a named run ('q1', 'q2', ...)."""
    if name == "pretrained":
        from .pretrained import load_pretrained

        model = load_pretrained()
    else:
        from .training import load_weights

        model = load_weights(config(name), trained(name))
    return model.to(device or "cpu")


def load_identity(model: str | dict, device: torch.device | None = None) -> torch.nn.Module:
    """The model a result declared as its input (``identity(name)``)."""
    names = names_of(model)
    if not names:
        raise cache.CacheError(f"no run of the current profile has the config {model}")
    return load(names[0], device)


# --- Results of the named models -------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """Unconditional samples of a model."""

    inputs: dict  # the model's identity, n, the seed
    samples: torch.Tensor  # long [n, 1, 28, 28]


def _samples_inputs(name: str, n: int = 64, seed: int = 0) -> dict:
    return {"model": identity(name), "n": n, "seed": seed}


@cache.declare("samples", Samples, _samples_inputs, kind="samples", cases=(("q1",), ("q2",)))
def sample_set(inputs: dict) -> dict:
    """``n`` unconditional samples of a named model (fast exact sampler), cached."""
    from ..core import rng
    from ..core.sampling import sample

    model = load_identity(inputs["model"], default_device())
    generator = rng.generator(inputs["seed"])  # on the CPU: the cached samples were drawn there
    return {"samples": sample(model, inputs["n"], generator=generator, progress=True).cpu()}


def samples(name: str, n: int = 64, seed: int = 0) -> torch.Tensor:
    """The tensor of ``sample_set(name, n, seed)``: long [n, 1, 28, 28]."""
    return sample_set(name, n, seed).samples


@dataclass(frozen=True)
class Evaluation:
    """Validation and test bits/dim of a model."""

    inputs: dict  # the model's identity, the number of images of each split
    val_bpd: float
    test_bpd: float


def _evaluation_inputs(name: str) -> dict:
    return {"model": identity(name), "images": budget()["eval_images"]}


@cache.declare("evaluation", Evaluation, _evaluation_inputs, kind="evaluate", metrics=True,
               cases=(("pretrained",),))
def evaluated(inputs: dict) -> dict[str, float]:
    """Validation and test bits/dim of a model on the first ``images`` of the MNIST splits (cached)."""
    from .training import evaluate

    model, n = load_identity(inputs["model"], default_device()), inputs["images"]
    return {f"{split}_bpd": evaluate(model, load_images(split)[:n], progress=True) for split in ("val", "test")}


def evaluation(name: str) -> dict[str, float]:
    """``evaluated(name)`` as a dict: "val_bpd", "test_bpd"."""
    e = evaluated(name)
    return {"val_bpd": e.val_bpd, "test_bpd": e.test_bpd}
