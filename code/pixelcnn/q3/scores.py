"""The forward model's judgement of Q3's sampled images, cached so that the report needs no model.

``scores``: log2 p(x) of the (d) test images and of every tempering run's draws, and the measures of every (g)
method's completions (``g_measures``: the tops' ink and log2 p of the completed images), from the chains
(``mcmc_runs``), the pools (``importance``) and the tempering runs (``tempering_runs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core import inference as inf
from ..study import cache
from ..study.runs import budget, identity, load_identity
from .importance import GPools, g_pools, reverse_results
from .mcmc_runs import SingleSiteChains, single_site_chains
from .quantities import results
from .setting import MODEL, QUESTIONS, STARTS, ink
from .tempering_runs import Tempered, draws, tempering


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


def g_methods(c: SingleSiteChains, pools: GPools, sir_prior_one_pool: torch.Tensor, reverse_alone: torch.Tensor,
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
    """The forward model's judgement of the images of the chains, the pools and the tempering runs."""

    inputs: dict  # ``scores.inputs()``: the forward model and the inputs of the results it scores
    d_truth: torch.Tensor  # [N]: log2 p(x) of the (d) test images
    tempering: dict[str, torch.Tensor]  # question -> [R, N, n]: log2 p(x) of each tempering run's draws
    fewer_particles: dict[str, torch.Tensor]  # n -> [R, N, n]: the same for the (d) runs with fewer particles
    g: dict[str, dict[str, torch.Tensor]]  # ``g_measures`` of every (g) method, the test images first

    def truth(self) -> dict[str, torch.Tensor]:
        """log2 p of the test images per question [N]."""
        return {"d": self.d_truth, "g": self.g["log2 p"]["test image itself"]}

    def test_ink(self) -> torch.Tensor:
        """The ink of the true tops of the (g) images [N]."""
        return self.g["ink"]["test image itself"]


def _scores_inputs() -> dict:
    """Everything ``scores`` depends on: the forward model and the results whose images it scores."""
    seeds, fewer = budget()["tempering"]["seeds"], budget()["tempering"]["fewer_particles"]
    return {"model": identity(MODEL), "d": single_site_chains.inputs("d"), "g": single_site_chains.inputs("g"),
            "pools": g_pools.inputs(), "reverse": reverse_results.inputs(),
            "tempering": {q: [tempering.inputs(q, seed) for seed in seeds] for q in QUESTIONS},
            "fewer_particles": {str(n): [tempering.inputs("d", seed, n) for seed in seeds] for n in fewer}}


@cache.declare("q3-scores", Scores, _scores_inputs)
def scores(inputs: dict) -> dict:
    """The forward model's log2 p(x) of the (d) test images and of the tempering runs' draws, and ``g_measures``
    of every (g) method (the tempering runs' draws among them), so that the report needs no model (a few minutes
    on a CPU)."""
    model = load_identity(inputs["model"])
    chains_d, chains_g = single_site_chains.load(inputs["d"]), single_site_chains.load(inputs["g"])
    pools = g_pools.load(inputs["pools"])
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
