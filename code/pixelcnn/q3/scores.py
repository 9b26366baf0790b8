"""Q3's hard quantities (d) and (g) held to the forward model's own conditional, the one they ask for:
cached results, each declared once (``cache.declare``) and carrying its inputs.

``chains``: Metropolis-within-Gibbs chains (``mcmc``) on MNIST from the three starts of ``starts``.
``g_pools``: (g) completions each resampled from its own pool of proposals. ``scores``: the forward
model's judgement of their images, so that the report needs no model (``judged`` reads them all).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass

import torch

from ..core import estimators as est
from ..core import inference as inf
from ..core import mcmc
from ..core.sampling import sample
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, identity, load_identity
from . import HALF, MIDDLE, MODEL, STARTS, ink
from .estimates import results, reverse_results
from .starts import chain_setup
from .tempering import QUESTIONS, Tempered, draws, tempering


@dataclass(frozen=True)
class HardChains:
    """The chains of one question: B = images x starts x chains, in that order."""

    inputs: dict  # ``chains.inputs(question)``: the models, the question, the test images, chains, sweeps, seed
    images: torch.Tensor  # long [N, 1, 28, 28]: the conditioning test images
    starts: torch.Tensor  # uint8 [B, 1, 28, 28]: the starting states
    samples: torch.Tensor  # uint8 [S, B, 1, 28, 28]: the state after every sweep
    acceptance: torch.Tensor  # [S, B]: fraction of each sweep's proposals accepted
    log_p: torch.Tensor  # [S, B]: log p(x) in nats after every sweep
    start_log_p: torch.Tensor  # [B]: log p(x) of the starting states
    full_conditionals: torch.Tensor  # (d) [S // every, B, 256]: p(x_middle | all others) along the chains
    recycled: torch.Tensor  # (d) [S, B, 256]: each update's expected next middle value
    every: int  # the full conditionals follow sweeps every-1, 2 every-1, ...
    passes: int  # forward passes of the batch
    seconds: float  # compute time, the starts included

    @property
    def indices(self) -> tuple[int, ...]:
        """The conditioning images' indices in the test set."""
        return tuple(self.inputs["images"])

    @property
    def per_image(self) -> int:
        return self.starts.shape[0] // len(self.images)

    def group(self, tensor: torch.Tensor, image: int, start: str | None = None) -> torch.Tensor:
        """The columns (dim 1) of ``tensor`` that belong to one image, and to one start if given."""
        chains = self.per_image // len(STARTS)
        first = image * self.per_image + (STARTS.index(start) * chains if start else 0)
        return tensor[:, first:first + (chains if start else self.per_image)]


def _chains_inputs(question: str, seed: int = 0) -> dict:
    """Everything the chains of question "d" or "g" depend on."""
    b = budget()["mcmc"]
    images = b["d_images"] if question == "d" else budget()["q3_images"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": list(images), "chains_per_start": b["chains_per_start"], "sweeps": b["sweeps"],
            "chunk": b["chunk"], "seed": seed}


@cache.declare("q3-chains", HardChains, _chains_inputs, cases=(("d",), ("g",)))
def chains(inputs: dict) -> dict:
    """The MCMC chains of question "d" (unknown: pixels 0..middle) or "g" (unknown: the top half); resumable,
    about an hour on a CPU."""
    clock = time.perf_counter()
    model, _, generator, middle, known_from, x, starts = chain_setup(inputs)
    start_seconds = time.perf_counter() - clock
    checkpoint = cache.work_folder("estimate", inputs) / "chains.pt"
    run, seconds = mcmc.run_resumable(model, starts, list(range(known_from)), inputs["sweeps"], inputs["chunk"],
                                      generator, checkpoint, pixel=middle if inputs["question"] == "d" else None,
                                      progress=True)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    empty = torch.zeros(0)
    return {"images": x, "starts": starts.to(torch.uint8), "samples": run.samples.to(torch.uint8),
            "acceptance": run.acceptance, "log_p": run.log_p, "start_log_p": inf.log_prob(model, starts).double(),
            "full_conditionals": empty if run.full_conditionals is None else run.full_conditionals,
            "recycled": empty if run.recycled is None else run.recycled, "every": run.every, "passes": run.passes,
            "seconds": start_seconds + seconds}


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
            p = est.complete_top_half_sir(model, image, proposals[pool], 1, generator)
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


def tempering_completions(runs: list[Tempered], per_image: int | None = None) -> dict[str, torch.Tensor]:
    """Each (g) tempering run's completions, [N, K, 1, 28, 28] per "SMC tempering, seed S": its equally weighted
    draws (``tempering.draws``), all n of them, or every (n // ``per_image``)-th for a figure."""
    def some(x: torch.Tensor) -> torch.Tensor:
        return x if per_image is None else x[:, ::x.shape[1] // per_image][:, :per_image]

    return {f"SMC tempering, seed {run.inputs['seed']}": some(draws(run)) for run in runs}


def log_p_bits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The forward model's log2 p(x) of each image [B], in bits."""
    return inf.log_prob(model, images.long()).double() / math.log(2)


# The (g) methods each of whose completions comes from a run of its own (the figure of "(g) diagnosed").
OWN_RUNS = (*(f"MCMC from {start} starts" for start in STARTS), "SIR, prior, own pools", "SIR, reverse, own pools")


def g_methods(c: HardChains, pools: GPools, sir_prior_one_pool: torch.Tensor, reverse_alone: torch.Tensor,
              sir_reverse_one_pool: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each method's (g) completions, [N, K, 1, 28, 28] per method name (the one-pool ones from chapter 3's
    first results)."""
    n = len(c.images)

    def per_image(x: torch.Tensor) -> torch.Tensor:
        return x.long().reshape(n, -1, *x.shape[1:])

    last = c.samples[-1]
    return {"SIR, prior, one pool": per_image(sir_prior_one_pool), "SIR, prior, own pools": per_image(pools.prior),
            "reverse model alone": per_image(reverse_alone), "SIR, reverse, one pool": per_image(sir_reverse_one_pool),
            "SIR, reverse, own pools": per_image(pools.reverse),
            **{f"MCMC from {start} starts": torch.stack([c.group(last.unsqueeze(0), k, start)[0].long()
                                                          for k in range(n)]) for start in STARTS}}


def g_measures(model: torch.nn.Module, images: torch.Tensor,
               methods: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Per measure ("ink": the top half's mean intensity, 0 to 1; "log2 p": the forward model's log2 p(x) of
    the completed images) and method (the test images first): the mean over the completions, [N]. The bottom
    halves are the given ones, so log p differs between methods only through the tops: it ranks them as the
    target p(top | bottom) does."""
    sets = {"test image itself": images.unsqueeze(1), **methods}
    return {measure: {name: f(x.reshape(-1, *x.shape[2:])).view(len(x), -1).mean(1) for name, x in sets.items()}
            for measure, f in (("ink", ink), ("log2 p", lambda x: log_p_bits(model, x)))}


@dataclass(frozen=True)
class Scores:
    """The forward model's judgement of the images of this module's results."""

    inputs: dict  # ``scores.inputs()``: the forward model and the inputs of the results it scores
    d_truth: torch.Tensor  # [N]: log2 p(x) of the (d) test images
    tempering: dict[str, torch.Tensor]  # question -> [R, N, n]: log2 p(x) of each tempering run's draws
    fewer_particles: dict[str, torch.Tensor]  # n -> [R, N, n]: the same for the (d) runs with fewer particles
    g: dict[str, dict[str, torch.Tensor]]  # ``g_measures`` of every (g) method, the test images first


def _scores_inputs() -> dict:
    """Everything ``scores`` depends on: the forward model and the results whose images it scores."""
    seeds, fewer = budget()["tempering"]["seeds"], budget()["tempering"]["fewer_particles"]
    return {"model": identity(MODEL), "d": chains.inputs("d"), "g": chains.inputs("g"), "pools": g_pools.inputs(),
            "reverse": reverse_results.inputs(),
            "tempering": {q: [tempering.inputs(q, seed) for seed in seeds] for q in QUESTIONS},
            "fewer_particles": {str(n): [tempering.inputs("d", seed, n) for seed in seeds] for n in fewer}}


@cache.declare("q3-scores", Scores, _scores_inputs)
def scores(inputs: dict) -> dict:
    """The forward model's log2 p(x) of the (d) test images and of the tempering runs' draws, and ``g_measures``
    of every (g) method (the tempering runs' draws among them), so that the report needs no model (a few minutes
    on a CPU)."""
    model = load_identity(inputs["model"])
    chains_d, chains_g, pools = chains.load(inputs["d"]), chains.load(inputs["g"]), g_pools.load(inputs["pools"])
    reverse = reverse_results.load(inputs["reverse"])
    first = results.load(inputs["reverse"]["results"])
    methods = g_methods(chains_g, pools, first.g, reverse.g_reverse, reverse.g_reverse_is)
    tempered = {q: [tempering.load(i) for i in runs] for q, runs in inputs["tempering"].items()}
    methods |= tempering_completions(tempered["g"])

    def per_draw(runs: list[Tempered]) -> torch.Tensor:
        return torch.stack([log_p_bits(model, (x := draws(run)).flatten(0, 1)).view(x.shape[:2]) for run in runs])

    return {"d_truth": log_p_bits(model, chains_d.images),
            "tempering": {q: per_draw(runs) for q, runs in tempered.items()},
            "fewer_particles": {n: per_draw([tempering.load(i) for i in runs])
                                for n, runs in inputs["fewer_particles"].items()},
            "g": g_measures(model, first.images, methods)}
