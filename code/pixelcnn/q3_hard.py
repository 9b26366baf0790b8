"""Q3's hard quantities (d) and (g) held to the forward model's own conditional, the one they ask for.

``chains``: Metropolis-within-Gibbs chains (``mcmc``) on MNIST, half of them started from the
reverse model's completions and half from the forward model's own samples. ``d_estimators``: the
(d) estimators of chapter 3 over several seeds, with their evidence estimates, judged against the
chains' Rao-Blackwellised estimate. ``g_pools``: (g) completions each resampled from its own pool
of proposals. Each result is cached under the inputs its ``*_inputs`` function declares.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

import pandas as pd
import torch

from . import cache, mcmc, q3
from . import inference as inf
from .data import load_images
from .q3 import HALF, MIDDLE, MODEL, SIZE, typed
from .runs import budget, identity, load_identity
from .sampling import sample

# Where the chains of each conditioning image start, in this order: the test image itself (if the model fits
# the data, its unknown pixels are close to a draw from the target, so these chains start near stationarity),
# the reverse model's completions, and the forward model's own samples that ignore the given pixels.
STARTS = ("test-image", "reverse", "prior")


@dataclass(frozen=True)
class HardChains:
    """The chains of one question: B = images x starts x chains, in that order."""

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
    indices: tuple[int, ...] = ()  # the conditioning images' indices in the test set (not cached: the inputs)

    @property
    def per_image(self) -> int:
        return self.starts.shape[0] // len(self.images)

    def group(self, tensor: torch.Tensor, image: int, start: str | None = None) -> torch.Tensor:
        """The columns (dim 1) of ``tensor`` that belong to one image, and to one start if given."""
        chains = self.per_image // len(STARTS)
        first = image * self.per_image + (STARTS.index(start) * chains if start else 0)
        return tensor[:, first:first + (chains if start else self.per_image)]


def starting_states(model: torch.nn.Module, reverse: torch.nn.Module, x: torch.Tensor, known_from: int, n: int,
                    generator: torch.Generator) -> torch.Tensor:
    """n starting states per image of x [N, 1, 28, 28] and start of ``STARTS``: [N * 3 * n, 1, 28, 28], image-major."""
    return torch.cat([torch.cat([x[k:k + 1].repeat(n, 1, 1, 1),
                                 inf.sample_before(reverse, x[k:k + 1], known_from, n, generator),
                                 mcmc.prior_starts(model, x[k:k + 1], known_from, n, generator)])
                      for k in range(len(x))])


class ChainSetup(NamedTuple):
    """What every MCMC run of (d) or (g) starts from, made from its inputs (the generator already used)."""

    model: torch.nn.Module
    reverse: torch.nn.Module
    generator: torch.Generator
    middle: int  # raster index of the middle pixel
    known_from: int  # the first given pixel: pixels 0 .. known_from - 1 are updated
    images: torch.Tensor  # long [N, 1, 28, 28]: the test images
    starts: torch.Tensor  # [N * 3 * n, 1, 28, 28]: ``starting_states``


def chain_setup(inputs: dict) -> ChainSetup:
    """The models, the generator, the unknown pixels and the three starts of ``inputs`` (``chains_inputs``)."""
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    middle = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    known_from = middle + 1 if inputs["question"] == "d" else HALF
    x = load_images("test")[inputs["images"]].long()
    starts = starting_states(model, reverse, x, known_from, inputs["chains_per_start"], generator)
    return ChainSetup(model, reverse, generator, middle, known_from, x, starts)


def chains_inputs(question: str, seed: int = 0) -> dict:
    """Everything the chains of question "d" or "g" depend on."""
    b = budget()["mcmc"]
    images = b["d_images"] if question == "d" else budget()["q3_images"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "question": question, "pixel": list(MIDDLE),
            "images": list(images), "chains_per_start": b["chains_per_start"], "sweeps": b["sweeps"],
            "chunk": b["chunk"], "seed": seed}


def chains(question: str, seed: int = 0) -> HardChains:
    """The MCMC chains of question "d" (unknown: pixels 0..middle) or "g" (unknown: the top half); cached,
    resumable, about an hour on a CPU."""
    return _chains(chains_inputs(question, seed))


def _chains(inputs: dict) -> HardChains:
    return HardChains(**cache.tensors("estimate", inputs, _compute_chains), indices=tuple(inputs["images"]))


def _compute_chains(inputs: dict) -> dict:
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


def burn_in() -> int:
    """Sweeps discarded from the start of every chain."""
    return budget()["mcmc"]["burn_in"]


def d_reference(c: HardChains, start: str | None = None) -> torch.Tensor:
    """The chains' estimate of (d) per image [N, 256]: the middle pixel's full conditionals averaged over the
    chains (of one start, or all) and the sweeps after the burn-in (Rao-Blackwellised)."""
    kept = mcmc.full_conditionals_between(c.full_conditionals, c.every, burn_in())
    return torch.stack([c.group(kept, k, start).reshape(-1, kept.shape[-1]).mean(0) for k in range(len(c.images))])


@dataclass(frozen=True)
class DEstimators:
    """(d) by every method of chapter 3, per seed [R] and image [N]."""

    images: torch.Tensor  # long [N, 1, 28, 28]
    is_prior: torch.Tensor  # [R, N, 256]: importance sampling with prior prefixes
    is_prior_ess: torch.Tensor  # [R, N]
    is_prior_log_evidence: torch.Tensor  # [R, N]: log of the mean weight, an estimate of log p(x_>m) in nats
    is_reverse: torch.Tensor  # [R, N, 256]: importance sampling with reverse-model proposals
    is_reverse_ess: torch.Tensor
    is_reverse_log_evidence: torch.Tensor
    reverse: torch.Tensor  # [N, 256]: the reverse model alone
    seconds: dict


def d_estimators_inputs() -> dict:
    """Everything ``d_estimators`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "reverse": identity("reverse"), "pixel": list(MIDDLE),
            "images": list(b["mcmc"]["d_images"]), "seeds": list(b["mcmc"]["seeds"]),
            "later_prefixes": b["q3"]["later_prefixes"], "proposals": b["reverse_proposals"]}


def d_estimators() -> DEstimators:
    """The (d) estimators over several seeds (cached; about ten minutes on a CPU)."""
    return typed(DEstimators, cache.tensors("estimate", d_estimators_inputs(), _compute_d_estimators))


def _compute_d_estimators(inputs: dict) -> dict:
    model, reverse = load_identity(inputs["model"]), load_identity(inputs["reverse"])
    x = load_images("test")[inputs["images"]].long()
    middle = inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    out: dict[str, list] = {}
    seconds = {"is_prior": 0.0, "is_reverse": 0.0}
    for seed in inputs["seeds"]:
        generator = torch.Generator().manual_seed(seed)
        for k in range(len(x)):
            clock = time.perf_counter()
            w = inf.conditional_on_later_pixels(model, x[k:k + 1], middle, inputs["later_prefixes"], generator)
            seconds["is_prior"] += time.perf_counter() - clock
            clock = time.perf_counter()
            r = inf.reverse_proposals(model, reverse, x[k:k + 1], middle + 1, inputs["proposals"], generator)
            seconds["is_reverse"] += time.perf_counter() - clock
            for name, value in (("is_prior", w.p), ("is_prior_ess", w.ess), ("is_prior_log_evidence", w.log_evidence),
                                ("is_reverse", inf.weighted_pixel_distribution(r.samples, r.weights, middle,
                                                                                model.levels)),
                                ("is_reverse_ess", r.ess), ("is_reverse_log_evidence", r.log_evidence)):
                out.setdefault(name, []).append(value.double())
    shape = (len(inputs["seeds"]), len(x))
    result = {name: torch.stack(v).view(*shape, *v[0].shape) for name, v in out.items()}
    return {"images": x, **result, "reverse": inf.reverse_conditional(reverse, x, middle), "seconds": seconds}


@dataclass(frozen=True)
class GPools:
    """(g) completions, each resampled from its own pool of proposals: [N * pools, 1, 28, 28], image-major."""

    images: torch.Tensor
    prior: torch.Tensor  # SIR with the forward model's own top halves as proposals
    prior_ess: torch.Tensor  # [N, pools]
    prior_log_evidence: torch.Tensor  # [N, pools]: log p(bottom half) estimated, nats
    reverse: torch.Tensor  # SIR with the reverse model's completions as proposals
    reverse_ess: torch.Tensor
    reverse_log_evidence: torch.Tensor
    seconds: dict


def g_pools_inputs(seed: int = 0) -> dict:
    """Everything ``g_pools`` depends on."""
    b = budget()
    return {"model": identity(MODEL), "reverse": identity("reverse"), "images": list(b["q3_images"]),
            "pools": b["q3"]["completions"], "proposals": b["reverse_proposals"], "seed": seed}


def g_pools(seed: int = 0) -> GPools:
    """(g) by SIR with independent pools (cached; about ten minutes on a CPU)."""
    return _g_pools(g_pools_inputs(seed))


def _g_pools(inputs: dict) -> GPools:
    return typed(GPools, cache.tensors("estimate", inputs, _compute_g_pools))


def _compute_g_pools(inputs: dict) -> dict:
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
            p = inf.complete_top_half_sir(model, image, proposals[pool], 1, generator)
            seconds["prior"] += time.perf_counter() - clock
            clock = time.perf_counter()
            r = inf.reverse_proposals(model, reverse, image, HALF, k, generator)
            drawn = inf.resample(r.samples, r.weights, 1, generator)
            seconds["reverse"] += time.perf_counter() - clock
            for name, value in (("prior", p.samples), ("prior_ess", p.ess), ("prior_log_evidence", p.log_evidence),
                                ("reverse", drawn), ("reverse_ess", r.ess),
                                ("reverse_log_evidence", r.log_evidence)):
                out.setdefault(name, []).append(value)
    result = {name: torch.cat(v) if name in ("prior", "reverse") else torch.stack(v).double().view(len(x), pools)
              for name, v in out.items()}
    return {"images": x, **result, "seconds": seconds}


def ink(images: torch.Tensor) -> torch.Tensor:
    """The mean intensity (0 to 1) of the top half of each image [B]."""
    return images.reshape(len(images), -1)[:, :HALF].double().mean(1) / 255


def log_p_bits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The forward model's log2 p(x) of each image [B], in bits."""
    return inf.log_prob(model, images.long()).double() / math.log(2)


def tiny_inputs() -> dict:
    """Everything ``tiny`` depends on: the arguments of ``mcmc.tiny_check``."""
    return dict(budget()["tiny_mcmc"])


def tiny() -> mcmc.TinyCheck:
    """Every (d) and (g) method, MCMC included, against enumeration on a tiny 4x4 binary model with a
    mismatched reverse model (cached; minutes on a CPU)."""
    values = cache.tensors("estimate", tiny_inputs(), lambda inputs: asdict(mcmc.tiny_check(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in inputs.items()})))
    return mcmc.TinyCheck(**values)


# --- What the chains and the estimators say --------------------------------------------------------


def chain_diagnostics(c: HardChains, truth: torch.Tensor) -> pd.DataFrame:
    """Per conditioning image (columns): the acceptance rate and the final log2 p(x) of the chains of each
    start (after the burn-in), log2 p(x) of the test image itself (``truth``, [N]), and the split R-hat of log p
    over all chains."""
    kept, starts = slice(burn_in(), None), " / ".join(STARTS)
    columns = {}
    for k in range(len(c.images)):
        trace = c.group(c.log_p[kept], k)
        columns[f"test #{c.indices[k]}"] = [
            " / ".join(f"{c.group(c.acceptance[kept], k, start).mean():.2f}" for start in STARTS),
            " / ".join(f"{c.group(c.log_p[-1:], k, start).mean() / math.log(2):.0f}" for start in STARTS),
            f"{truth[k]:.0f}", f"{mcmc.split_rhat(trace):.2f}" if len(trace) >= 4 else "-"]
    measures = [f"acceptance rate ({starts} starts)", f"log2 p(x) after the last sweep ({starts})",
                "log2 p(x) of the test image", "split R-hat of log p(x), all chains"]
    return pd.DataFrame({"measure": measures, **columns})


REFERENCE = "test-image"  # the chains whose Rao-Blackwellised estimate of (d) the others are judged against


def d_errors(c: HardChains, e: DEstimators) -> dict[str, torch.Tensor]:
    """Total-variation distance of every (d) estimate to the reference chains' estimate: [R, N] per method
    (R seeds for the importance samplers, 1 otherwise)."""
    reference, tv, n = d_reference(c, REFERENCE), inf.total_variation, len(c.images)
    errors = {f"MCMC from {start} starts": torch.stack([tv(d_reference(c, start)[k], reference[k]) for k in range(n)])
              for start in STARTS if start != REFERENCE}
    errors |= {"IS, prior prefixes": torch.stack([tv(e.is_prior[:, k], reference[k]) for k in range(n)], 1),
               "IS, reverse proposals": torch.stack([tv(e.is_reverse[:, k], reference[k]) for k in range(n)], 1),
               "reverse model alone": torch.stack([tv(e.reverse[k], reference[k]) for k in range(n)])}
    return {name: v.reshape(-1, n) for name, v in errors.items()}


def d_comparison(c: HardChains, e: DEstimators) -> pd.DataFrame:
    """(d) per method (rows) and image (columns): total-variation distance to the reference chains' estimate,
    as "mean (smallest to largest)" over the seeds for the importance samplers; then each proposal's evidence
    estimate log2 p(x_>m), the same way."""
    def spread(values: torch.Tensor, fmt: str = ".3f") -> str:
        if len(values) == 1:
            return format(values.item(), fmt)
        return f"{values.mean():{fmt}} ({values.min():{fmt}} to {values.max():{fmt}})"

    table = [{"measure": f"TV to the reference: {name}",
              **{column(c, k): spread(values[:, k]) for k in range(len(c.images))}}
             for name, values in d_errors(c, e).items()]
    for name, log_z in (("prior prefixes", e.is_prior_log_evidence), ("reverse proposals", e.is_reverse_log_evidence)):
        table.append({"measure": f"log2 evidence, {name}",
                      **{column(c, k): spread(log_z[:, k] / math.log(2), ".0f") for k in range(len(c.images))}})
    return pd.DataFrame(table)


def column(c: HardChains, k: int) -> str:
    """A table column naming conditioning image k and its true middle value."""
    return f"test #{c.indices[k]} (true {int(c.images[k].view(-1)[inf.raster_index(MIDDLE, SIZE[1])])})"


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


def g_diagnosis(measures: dict[str, dict[str, torch.Tensor]], indices: tuple[int, ...]) -> pd.DataFrame:
    """``g_measures`` as a table: one row per measure and method, one column per conditioning image."""
    return pd.DataFrame([{"measure": f"{measure}: {name}",
                          **{f"test #{i}": format(v, ".3f" if measure == "ink" else ".0f")
                             for i, v in zip(indices, values.tolist(), strict=True)}}
                         for measure, by_method in measures.items() for name, values in by_method.items()])


def traces(c: HardChains) -> torch.Tensor:
    """log2 p(x) of every chain from its start through every sweep: [S + 1, N, starts, chains]."""
    t = torch.cat([c.start_log_p.unsqueeze(0), c.log_p]) / math.log(2)
    return t.view(len(t), len(c.images), len(STARTS), -1)


def time_table(d_chains: HardChains, g_chains: HardChains, e: DEstimators, pools: GPools) -> pd.DataFrame:
    """Seconds each new (d)/(g) computation took, for all its images, as recorded when it was computed."""
    rows = [("(d) MCMC, all chains (starts included)", d_chains.seconds),
            ("(g) MCMC, all chains (starts included)", g_chains.seconds),
            ("(d) IS with prior prefixes, all seeds", e.seconds["is_prior"]),
            ("(d) IS with reverse proposals, all seeds", e.seconds["is_reverse"]),
            ("(g) SIR with prior proposals, own pools", pools.seconds["prior"]),
            ("(g) SIR with reverse proposals, own pools", pools.seconds["reverse"]),
            ("MCMC check on the tiny 4x4 model (every method)",
             cache.compute_seconds(cache.lookup("estimate", tiny_inputs()).manifest))]
    return pd.DataFrame([{"quantity": name, "seconds": float(v)} for name, v in rows])


def chain_summary(c: HardChains, truth: torch.Tensor) -> dict:
    """The numbers the chapter's reading of the chains rests on (log p in bits, over all images):
    acceptance range after the burn-in; the largest gap between the test-image chains' mean log2 p and the
    test image's, over every sweep; per other start and image, the gap below the test image after the last
    sweep and the climb from the start; the smallest split R-hat over the images."""
    t = traces(c)
    kept = c.acceptance[burn_in():]
    mean = t.mean(3)  # [S + 1, N, starts]
    own = STARTS.index("test-image")
    out = {"acceptance": (kept.min().item(), kept.max().item()),
           "truth_drift": (mean[:, :, own] - truth).abs().max().item(),
           "below": {s: truth - mean[-1, :, i] for i, s in enumerate(STARTS) if i != own},
           "climb": {s: mean[-1, :, i] - mean[0, :, i] for i, s in enumerate(STARTS) if i != own},
           "rhat_min": min((mcmc.split_rhat(c.group(c.log_p[burn_in():], k)) for k in range(len(c.images))
                            if len(c.log_p) - burn_in() >= 4), default=math.nan)}
    return out


def scores_inputs() -> dict:
    """Everything ``scores`` depends on: the forward model and the results whose images it scores."""
    return {"model": identity(MODEL), "d": chains_inputs("d"), "g": chains_inputs("g"), "pools": g_pools_inputs(),
            "reverse": q3.reverse_inputs()}


def scores() -> dict:
    """The forward model's judgement of the images of this module's results, so that the report needs no model
    (cached; a minute on a CPU): "d_truth", log2 p(x) of the (d) test images [N], and "g", ``g_measures`` of
    every (g) method (the test images first)."""
    return cache.tensors("estimate", scores_inputs(), _compute_scores)


def _compute_scores(inputs: dict) -> dict:
    model = load_identity(inputs["model"])
    chains_d, chains_g, pools = _chains(inputs["d"]), _chains(inputs["g"]), _g_pools(inputs["pools"])
    reverse = q3.reverse_results_from(inputs["reverse"])
    first = q3.results_from(inputs["reverse"]["results"])
    methods = g_methods(chains_g, pools, first.g, reverse.g_reverse, reverse.g_reverse_is)
    return {"d_truth": log_p_bits(model, chains_d.images), "g": g_measures(model, first.images, methods)}
