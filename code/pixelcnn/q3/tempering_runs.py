"""Q3's (d) and (g) on MNIST by tempering from the prior (``smc``): particles instead of chains with starts.

``tempering(question, seed)``: the particles of question "d" or "g" for the conditioning images of
``question_setting`` (those of the chains of ``mcmc_runs``), moved by the block chains' schedule with the
tempered target, cached and resumable (saved after every tempering step). ``runs(question)``: the runs of every
seed of the budget, whose agreement on the answer and on the evidence is the check. ``small_runs``: many small
runs on the temperatures of a pilot run, frozen. ``draws``: a run's particles as equally weighted draws.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass

import torch

from ..core import blocks, diagnostics, smc
from ..core import inference as inf
from ..study import cache
from ..study.data import load_images
from ..study.runs import BUDGETS, budget, identity, load_identity
from .setting import MIDDLE, MODEL, QUESTIONS, SIZE, question_setting


@dataclass(frozen=True)
class Tempered:
    """One tempering run of a question: G images x n particles, T steps, M moves per sweep (``smc.Particles``)."""

    inputs: dict  # ``tempering.inputs(question, seed)``: the models, the images, the budget, the schedule, the seed
    images: torch.Tensor  # long [G, 1, 28, 28]: the conditioning test images
    samples: torch.Tensor  # uint8 [G * n, 1, 28, 28]: the particles
    log_weights: torch.Tensor  # [G, n]
    betas: torch.Tensor  # [T + 1, G]
    ess: torch.Tensor  # [T, G]
    resampled: torch.Tensor  # bool [T, G]
    log_evidence: torch.Tensor  # [G]: log p(given pixels) in nats
    moves: list  # [M]
    acceptance: torch.Tensor  # [T, M, G]
    changed: torch.Tensor  # [T, M, G]
    passes: torch.Tensor  # [M, 3]
    sweeps: int
    seconds: float
    pixel_posterior: torch.Tensor  # (d) [G, 256]: the middle pixel, Rao-Blackwellised (empty for (g))
    ancestors: torch.Tensor | None = None  # long [G, n]: each particle's first ancestor (runs of ``small_runs``)

    def hamming(self) -> torch.Tensor:
        """The mean Hamming distance between the run's particles over the unknown pixels, per image [G]."""
        return diagnostics.mean_hamming(self.samples.long().view(*self.log_weights.shape, -1),
                                        question_setting(self.inputs["question"]).known_from)


def _tempering_inputs(question: str, seed: int = 0, particles: int | None = None) -> dict:
    """Everything a tempering run of question "d" or "g" depends on (``particles`` per image: the budget's unless
    given)."""
    b = budget()["tempering"]
    images = question_setting(question).images
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": images, "particles": particles or b["particles"],
            "schedule": [list(move) for move in b["schedule"]],
            "sites": b["sites"], "sweeps": b["sweeps"], "ess_target": b["ess_target"], "seed": seed}


_FULL = BUDGETS["full"]["tempering"]


@cache.declare("q3-tempering", Tempered, _tempering_inputs,
               cases=(*((q, seed) for q in QUESTIONS for seed in _FULL["seeds"]),
                      *(("d", seed, n) for n in _FULL["fewer_particles"] for seed in _FULL["seeds"])))
def tempering(inputs: dict) -> dict:
    """The particles of one tempering run (resumable; on two CPU cores about half an hour for (d), its middle
    pixel's full conditionals included, and three quarters of an hour for (g))."""
    return _run(inputs, load_identity(inputs["reverse"]), ess_target=inputs["ess_target"])


def _run(inputs: dict, reverse: torch.nn.Module | None, **options) -> dict:
    """One tempering run of ``inputs`` (resumable: saved after every step) with ``options`` of ``smc.temper``, and
    what its entry keeps: the particles as uint8, the images, and for (d) the middle pixel's posterior."""
    model = load_identity(inputs["model"])
    known_from = question_setting(inputs["question"]).known_from
    middle = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    x = load_images("test")[inputs["images"]].long()
    schedule = [(p, a, b) for p, rows in inputs["schedule"]
                for a, b in blocks.row_blocks(known_from, SIZE[1], rows or SIZE[0])]
    checkpoint = cache.work_folder("estimate", inputs) / "particles.pt"
    particles = smc.temper(model, reverse, x, known_from, inputs["particles"],
                           torch.Generator().manual_seed(inputs["seed"]), schedule=schedule, sites=inputs["sites"],
                           sweeps=inputs["sweeps"], checkpoint=checkpoint, progress=True, **options)
    posterior = smc.pixel_posterior(model, particles, middle) if inputs["question"] == "d" else torch.zeros(0)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    return {**asdict(particles), "samples": particles.samples.to(torch.uint8), "images": x,
            "pixel_posterior": posterior}


def runs(question: str, particles: int | None = None) -> list[Tempered]:
    """The tempering runs of question "d" or "g", one per seed of the budget (``particles`` per image: the
    budget's unless given)."""
    return [tempering(question, seed, particles) for seed in budget()["tempering"]["seeds"]]


def draws(run: Tempered) -> torch.Tensor:
    """Equally weighted draws of each image's posterior from a run, [G, n, 1, H, W]: its particles systematically
    resampled by their weights (seeded, so every reading draws the same), so that plain means over them estimate
    the run's weighted means."""
    g, n = run.log_weights.shape
    index = smc.systematic_resample(run.log_weights, torch.Generator().manual_seed(0)) + n * torch.arange(g)[:, None]
    return run.samples.long()[index.flatten()].view(g, n, *run.samples.shape[1:])


# --- Many small runs on a frozen schedule -----------------------------------------------------------------------


def frozen_temperatures(pilot: Tempered, refine: int) -> torch.Tensor:
    """The temperatures of the small runs [T * refine + 1, G]: the pilot run's (adaptive), each step cut into
    ``refine`` equal steps. Fixed before the small runs start, so that each run's evidence is the log of an
    unbiased estimate."""
    betas = pilot.betas.double()
    steps = torch.linspace(0, 1, refine + 1, dtype=torch.float64)[1:].view(-1, 1, 1)
    between = betas[:-1].unsqueeze(0) + steps * betas.diff(dim=0).unsqueeze(0)  # [refine, T, G]
    return torch.cat([betas[:1], between.transpose(0, 1).reshape(-1, betas.shape[1])])


def _small_run_inputs(question: str, seed: int) -> dict:
    """Everything one small tempering run depends on (``small_runs``); its temperatures come from the pilot run
    (the budget's ``pilot_seed`` at the full particle count), whose inputs are part of the key."""
    b = budget()["tempering_runs"]
    if seed not in b["seeds"]:
        raise ValueError(f"seed {seed} is not a seed of the small runs ({b['seeds'][0]}..{b['seeds'][-1]})")
    images = question_setting(question).images
    return {"model": identity(MODEL), "question": question, "pixel": list(MIDDLE), "images": images,
            "particles": b["particles"], "schedule": [list(move) for move in b["schedule"]], "sites": b["sites"],
            "sweeps": b["sweeps"], "pilot": _tempering_inputs(question, b["pilot_seed"]), "refine": b["refine"],
            "seed": seed}


@cache.declare("q3-tempering-run", Tempered, _small_run_inputs,
               cases=tuple(("d", seed) for seed in BUDGETS["full"]["tempering_runs"]["seeds"]))
def small_run(inputs: dict) -> dict:
    """One small tempering run on the frozen temperatures, without the reverse model (resumable; on two CPU
    cores a few minutes for (d), its middle pixel's full conditionals included)."""
    return _run(inputs, None, temperatures=frozen_temperatures(tempering.load(inputs["pilot"]), inputs["refine"]))

def small_runs(question: str) -> list[Tempered]:
    """The small runs of question "d", one per seed of the budget's ``tempering_runs``."""
    return [small_run(question, seed) for seed in budget()["tempering_runs"]["seeds"]]

