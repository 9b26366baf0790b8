"""The MCMC chains of Q3 checked against enumeration, beside the importance samplers at equal cost.

On the tiny model of ``validation`` (4x4 binary images here, output weights sharpened) with a
deliberately mismatched reverse-order model; every budget counts single-image forward passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core import blocks, diagnostics, mcmc
from ..core import estimators as est
from ..core import inference as inf
from ..core.models import build, check_images
from ..core.sampling import sample
from ..study import cache
from ..study.runs import budget
from .validation import TINY_ARCH, fit_to_distribution, tiny_model, top_half


@dataclass(frozen=True)
class TinyCheck:
    """Errors (total variation to the exact answer) per conditioning image [N] and budget [K].

    A budget counts single-image forward passes; one sampling step of one image counts as a pass.
    MCMC uses ``chains`` chains per start and discards its first quarter of sweeps.
    """

    inputs: dict  # the arguments of ``tiny_check`` that differ from its defaults
    budgets: torch.Tensor  # long [K]
    images: torch.Tensor  # long [N, 1, H, W]: the conditioning images
    reverse_kl_bits: float  # KL(forward || reverse) in bits, estimated on 4096 forward samples: the mismatch
    exact_d: torch.Tensor  # float64 [N, levels]: the exact (d) answers
    g_entropy_bits: torch.Tensor  # [N]: entropy of the exact (g) posteriors (how spread out they are)
    d_is_prior: torch.Tensor  # (d) importance sampling with prior prefixes (``conditional_on_later_pixels``)
    d_is_reverse: torch.Tensor  # (d) importance sampling with reverse-model completions (``reverse_proposals``)
    d_mcmc_counting: torch.Tensor  # (d) MCMC from reverse completions, counting the middle value
    d_mcmc_recycled: torch.Tensor  # the same chains, recycled proposals
    d_mcmc_rao_blackwell: torch.Tensor  # the same chains, full conditionals averaged (their passes counted)
    d_mcmc_prior_start: torch.Tensor  # (d) MCMC from prior starts, full conditionals averaged
    d_reverse: torch.Tensor  # [N]: the reverse model's own answer
    g_sir_prior: torch.Tensor  # (g) importance weights of prior top halves
    g_is_reverse: torch.Tensor  # (g) importance weights of reverse-model completions
    g_mcmc: torch.Tensor  # (g) MCMC from reverse completions
    g_mcmc_prior_start: torch.Tensor  # (g) MCMC from prior starts
    g_reverse: torch.Tensor  # [N]: the reverse model's own posterior
    acceptance_d: torch.Tensor  # [N]: mean acceptance rate of the (d) chains
    acceptance_g: torch.Tensor  # [N]: of the (g) chains
    agreement_d: torch.Tensor  # [N]: TV between the two starts' (d) estimates at the largest budget
    agreement_g: torch.Tensor  # [N]: TV between the two starts' (g) frequencies at the largest budget


def tiny_check(seed: int = 1, budgets: tuple[int, ...] = (2**10, 2**12, 2**14, 2**16), size: tuple[int, int] = (4, 4),
               levels: int = 2, n_images: int = 3, chains: int = 16, sharpness: float = 4.0,
               reverse_steps: int = 40, fit_images: int = 2048, images: torch.Tensor | None = None) -> dict:
    """Every (d) and (g) estimator against enumeration on a tiny random model, as the budget grows: the
    fields of ``TinyCheck`` but its inputs.

    The conditioning ``images`` [N, 1, H, W] default to ``n_images`` samples of the model (typical given
    pixels; pass unusual ones to make the posteriors move further from the prior). With seed 1 the
    model's (g) posteriors keep about 4.5 of their 8 bits (``g_entropy_bits``).

    The reverse-order model is deliberately mismatched: fitted by maximum likelihood to only
    ``fit_images`` samples of the forward model for ``reverse_steps`` Adam steps. Exact answers
    enumerate the unknown pixels only (``levels**(m+1)`` completions for (d)), so sizes up to about
    20 unknown binary pixels work.
    """
    height, width = size
    pixel = (height // 2, width // 2)
    m, half = inf.raster_index(pixel, width), (height // 2) * width
    if min(budgets) < 2 * chains * (m + 2 + levels) or min(budgets) < 2 * chains * (half + 1):
        raise ValueError(f"budgets must pay for the chains' starts and a sweep: at least "
                         f"{2 * chains * max(m + 2 + levels, half + 1)} passes with {chains} chains")
    model = tiny_model(seed, sharpness, levels=levels)
    generator = torch.Generator().manual_seed(seed)
    # The reverse model: maximum likelihood on a few of the forward model's samples, for a few steps.
    torch.manual_seed(seed + 1)
    data = inf.rotate(sample(model, fit_images, size=size, generator=generator))
    reverse = fit_to_distribution(build(**{**TINY_ARCH, "levels": levels}), data,
                                  torch.full((fit_images,), 1 / fit_images), steps=reverse_steps)
    held_out = sample(model, 4096, size=size, generator=generator)
    gap = inf.log_probs(model, held_out) - inf.log_probs(reverse, inf.rotate(held_out))  # nats per image
    kl_bits = float(gap.mean() / math.log(2))

    if images is None:
        images = sample(model, n_images, size=size, generator=generator)
    check_images(images, levels)
    if tuple(images.shape[-2:]) != (height, width):
        raise ValueError(f"conditioning images must be {height}x{width}, got {tuple(images.shape[-2:])}")
    n_images = len(images)
    fields: dict[str, list] = {}
    exact = []

    def record(name: str, value) -> None:
        fields.setdefault(name, []).append(torch.as_tensor(value, dtype=torch.float64))

    def sweeps_within(cost: int, unknown: int, extra: int = 0) -> int:
        """Sweeps ``cost`` passes pay for: starts (a sampling run and one pass per chain), then sweeps."""
        return max(0, (cost - chains * (unknown + 1)) // (chains * (unknown + extra)))

    tv = diagnostics.total_variation
    for image in images:
        image = image.unsqueeze(0)
        candidates, p = inf.exact_posterior(model, image, m + 1)
        exact_d = torch.zeros(levels, dtype=torch.float64).index_add_(0, candidates.view(len(p), -1)[:, m], p)
        candidates, exact_g = inf.exact_posterior(model, image, half)
        exact.append(exact_d)
        record("g_entropy_bits", -(exact_g * exact_g.clamp(min=1e-300).log2()).sum())
        record("d_reverse", tv(inf.reverse_conditional(reverse, image, m)[0], exact_d))
        q = inf.pixel_log_probs(reverse, inf.rotate(candidates))[:, height * width - half:].sum(1).double().exp()
        record("g_reverse", tv(q / q.sum(), exact_g))

        # MCMC: one long run per start; the estimate at a budget uses the sweeps that budget pays for.
        longest = {"d": sweeps_within(max(budgets), m + 1), "g": sweeps_within(max(budgets), half)}
        runs = {}
        for start in ("reverse", "prior"):
            for question, known_from in (("d", m + 1), ("g", half)):
                if start == "reverse":
                    x0 = est.sample_before(reverse, image, known_from, chains, generator)
                else:
                    x0 = est.prior_starts(model, image, known_from, chains, generator)
                runs[start, question] = mcmc.metropolis_within_gibbs(
                    model, x0, range(known_from), longest[question], generator,
                    pixel=m if question == "d" else None, rao_blackwell_every=1 if question == "d" else 0)
        for cost in budgets:
            s, s_rb = sweeps_within(cost, m + 1), sweeps_within(cost, m + 1, levels)
            e = mcmc.pixel_estimates(runs["reverse", "d"], s // 4, s)
            e_rb = mcmc.pixel_estimates(runs["reverse", "d"], s_rb // 4, s_rb)
            record("d_mcmc_counting", tv(e.counting, exact_d))
            record("d_mcmc_recycled", tv(e.recycled, exact_d))
            record("d_mcmc_rao_blackwell", tv(e_rb.rao_blackwell, exact_d))
            record("d_mcmc_prior_start", tv(mcmc.pixel_estimates(runs["prior", "d"], s_rb // 4, s_rb).rao_blackwell,
                                             exact_d))
            s = sweeps_within(cost, half)
            for start, name in (("reverse", "g_mcmc"), ("prior", "g_mcmc_prior_start")):
                drawn = runs[start, "g"].samples[s // 4:s]
                record(name, tv(inf.state_frequencies(drawn, candidates, half, levels), exact_g))

            n = max(1, cost // (m + levels))  # a prefix sample, then every value of the pixel scored
            record("d_is_prior", tv(est.conditional_on_later_pixels(model, image, m, n, generator).p, exact_d))
            r = est.reverse_proposals(model, reverse, image, m + 1, max(1, cost // (m + 3)), generator)
            record("d_is_reverse", tv(est.weighted_pixel_distribution(r.samples, r.weights, m, levels),
                                      exact_d))
            n = max(1, cost // (half + 1))
            proposals = sample(model, n, stop=half, size=size, generator=generator)
            w = est.complete_given_later(model, image, proposals, top_half(image), 1, generator).weights
            record("g_sir_prior", tv(inf.state_frequencies(proposals, candidates, half, levels, w), exact_g))
            r = est.reverse_proposals(model, reverse, image, half, max(1, cost // (half + 2)), generator)
            record("g_is_reverse", tv(inf.state_frequencies(r.samples, candidates, half, levels, r.weights),
                                      exact_g))
        d_runs, g_runs = (runs["reverse", "d"], runs["prior", "d"]), (runs["reverse", "g"], runs["prior", "g"])
        record("acceptance_d", torch.cat([c.acceptance for c in d_runs], 1).mean())
        record("acceptance_g", torch.cat([c.acceptance for c in g_runs], 1).mean())
        record("agreement_d", mcmc.agreement(*d_runs, burn_in=longest["d"] // 4).pixel_tv)
        g_freq = [inf.state_frequencies(c.samples[longest["g"] // 4:], candidates, half, levels) for c in g_runs]
        record("agreement_g", tv(*g_freq))

    per_image = {"d_reverse", "g_reverse", "g_entropy_bits", "acceptance_d", "acceptance_g", "agreement_d",
                 "agreement_g"}
    out = {name: torch.stack(items) if name in per_image else torch.stack(items).view(n_images, len(budgets))
           for name, items in fields.items()}
    return {"budgets": torch.tensor(budgets), "images": images, "reverse_kl_bits": kl_bits,
            "exact_d": torch.stack(exact), **out}


def _tiny_inputs() -> dict:
    """Everything ``tiny`` depends on: the arguments of ``tiny_check`` that differ from its defaults."""
    return dict(budget()["tiny_mcmc"])


@cache.declare("q3-tiny-mcmc", TinyCheck, _tiny_inputs)
def tiny(inputs: dict) -> dict:
    """Every (d) and (g) method, MCMC included, against enumeration on a tiny 4x4 binary model with a
    mismatched reverse model (minutes on a CPU)."""
    return tiny_check(**{k: tuple(v) if isinstance(v, list) else v for k, v in inputs.items()})


# --- The check where single-site chains fail (tests/test_blocks.py), as the chapter reports it -----------

# A sharp 4x3, 3-level model (weights x16), its chains, the single-site sweeps from one fixed start, the block
# sweeps from dispersed starts, and the bounds the test asserts (TV to enumeration: single-site above, block
# moves within).
TINY_BLOCKS = {"size": (4, 3), "levels": 3, "sharpness": 16.0, "chains": 200, "single_sweeps": 200, "sweeps": 60,
               "single_site_above": 0.5, "blocks_within": 0.02, "unknown": {"d": 8, "g": 6}}


# Tempering (``smc``) on the same sharp model and image, with forward moves only (no reverse model): the
# particles per run, the sweeps of moves per step, the seeds, and the bounds the test asserts (TV of the answer to
# enumeration, and the log evidence's error in nats).
TINY_TEMPERING = {"particles": 1000, "sweeps": 2, "seeds": (0, 1), "within": 0.03, "evidence_within_nats": 0.25}


def tiny_block_schedule(known_from: int, width: int) -> list[tuple[str, int, int]]:
    """The test's schedule: every row by reverse proposals, then the whole prefix by reverse and by forward
    proposals (independence moves); a sweep ends with ``known_from`` single-site updates."""
    schedule = [("reverse", a, b) for a, b in blocks.row_blocks(known_from, width, 1)]
    return schedule + [("reverse", 0, known_from), ("forward", 0, known_from)]


def tiny_block_passes(question: str) -> int:
    """Forward and reverse passes per sweep of the test's block sampler for question "d" or "g"."""
    k = TINY_BLOCKS["unknown"][question]
    cost = [blocks.passes(p, (a, b)) for p, a, b in tiny_block_schedule(k, TINY_BLOCKS["size"][1])]
    return sum(c["forward"] + c["reverse"] for c in cost) + k
