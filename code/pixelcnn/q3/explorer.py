"""Any conditioning image explored (Q3): (c)-(g) for a test image and a pixel, computed by the report's answers.

``results``: the answers precomputed for the test images of ``budget()["explore"]`` (one cache entry; shown by
``report.explorer``); ``answers``: the same for any images and pixel (the notebook's live panel,
``report.explorer_panel``). The methods: (c) and (e) exact, (f) exact ancestral sampling; (d) importance
sampling with reverse-model proposals, plain (the precomputed images) or Rao-Blackwellised
(``estimators.rao_blackwellised_pixel``, the live panel), the cheaper methods chapter 3 measures against its
answer; (g) sampling-importance-resampling from one pool of the forward model's own top halves, the answer's
method at a smaller pool (one pool shared by all the images).
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
from ..study.settings import data_dir
from .setting import HALF, KINDS, MIDDLE, MODEL, SIZE, kind

CHUNK = 16  # images per batch of the precomputation (on a CPU, larger batches are slower per image)


def test_digits() -> torch.Tensor:
    """The digit of every test image: long [10000] (MNIST's labels)."""
    from torchvision.datasets import MNIST

    load_images("test")  # checks the files; when they are missing, says how to get them
    return MNIST(str(data_dir()), train=False, download=False).targets


def choose_images(per: int = 2) -> tuple[int, ...]:
    """The first ``per`` test images of every digit for each kind of middle pixel (``KINDS``), in test-set order."""
    middle = load_images("test")[:, 0, MIDDLE[0], MIDDLE[1]].tolist()
    digits, kinds = test_digits(), torch.tensor([KINDS.index(kind(v)) for v in middle])
    chosen = [i for digit in range(10) for k in range(len(KINDS))
              for i in torch.nonzero((digits == digit) & (kinds == k))[:per, 0].tolist()]
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class Explored:
    """(c)-(g) at the middle pixel for N test images, n completions each, and the seconds each quantity took."""

    inputs: dict  # ``results.inputs()``: the models, the pixel, the test images, the budget (completions: n)
    indices: torch.Tensor  # long [N]: the test-set indices
    digits: torch.Tensor  # long [N]: their digits
    images: torch.Tensor  # long [N, 1, 28, 28]
    c: torch.Tensor  # [N, 256]: p(x_middle | before), exact
    d: torch.Tensor  # [N, 256]: p(x_middle | after), IS with reverse-model proposals
    d_ess: torch.Tensor  # [N]
    e: torch.Tensor  # [N, 256]: p(x_middle | all others), exact
    f: torch.Tensor  # long [N * n, 1, 28, 28]: bottom halves sampled given the top
    g: torch.Tensor  # long [N * n, 1, 28, 28]: top halves given the bottom, SIR with prior proposals
    g_ess: torch.Tensor  # [N]
    seconds: dict

    @property
    def per_kind(self) -> int:
        """Test images per digit and kind of middle pixel (``KINDS``)."""
        return len(self.indices) // (10 * len(KINDS))

    @property
    def minutes(self) -> float:
        """What computing every answer took."""
        return sum(self.seconds.values()) / 60

    def answers(self, k: int) -> dict[str, torch.Tensor]:
        """The answers for the k-th image, as ``answers`` gives them for one image."""
        n = self.inputs["budget"]["completions"]
        return {"c": self.c[k:k + 1], "d": self.d[k:k + 1], "e": self.e[k:k + 1], "d_ess": self.d_ess[k:k + 1],
                "f": self.f[k * n:(k + 1) * n], "g": self.g[k * n:(k + 1) * n], "g_ess": self.g_ess[k:k + 1],
                "g_pool": self.inputs["budget"]["top_proposals"], "d_method": d_method(self.inputs["budget"])}


def d_method(b: dict) -> str:
    """The name of the (d) method a budget asks for (``answers``)."""
    return "Rao-Blackwellised IS, reverse proposals" if "dropped" in b else "IS, reverse proposals"


def _results_inputs(seed: int = 0) -> dict:
    """Everything ``results`` depends on."""
    b = budget()["explore"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "pixel": list(MIDDLE),
            "images": list(b["images"]), "budget": {k: v for k, v in b.items() if k != "images"}, "seed": seed}


def answers(model, reverse, x: torch.Tensor, index: int, b: dict, generator: torch.Generator,
            pool: torch.Tensor) -> dict:
    """(c)-(g) for images x (long [B, 1, H, W]) at raster pixel ``index``, with the seconds each took.

    c, d, e: [B, levels]; d_ess, g_ess: [B]; f, g: long [B * n, 1, H, W] (n = ``b["completions"]``); g_pool: the
    pool's size.
    (d) draws ``b["reverse_proposals"]`` reverse-model completions per image (with ``b["dropped"]``, the middle
    pixel of those carrying all but that weight is replaced by its full conditional); (g) resamples from
    ``pool``, prior samples of the top half (long [P, 1, H, W]).
    """
    out, seconds, clock, n = {}, {}, time.perf_counter(), b["completions"]

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name], clock = time.perf_counter() - clock, time.perf_counter()

    out["c"] = inf.conditional(model, x, index)
    lap("c")
    proposals = [est.reverse_proposals(model, reverse, x[k:k + 1], index + 1, b["reverse_proposals"], generator)
                 for k in range(len(x))]
    if "dropped" in b:  # Rao-Blackwellised: the middle value summed out of the heaviest proposals
        out["d"] = torch.stack([est.rao_blackwellised_pixel(model, r.samples, r.weights, index, b["dropped"])
                                for r in proposals])
    else:  # plain importance sampling: the sampled middle values counted
        out["d"] = torch.stack([est.weighted_pixel_distribution(r.samples, r.weights, index, model.levels)
                                for r in proposals])
    out["d_ess"] = torch.stack([r.ess.cpu() for r in proposals])
    lap("d")
    out["e"] = inf.full_conditional(model, x, index)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=HALF, generator=generator).cpu()
    lap("f")
    tops = [est.complete_given_later(model, x[k:k + 1], pool, HALF, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]).cpu(), torch.stack([t.ess.cpu() for t in tops])
    lap("g")
    return {**out, "g_pool": len(pool), "d_method": d_method(b), "seconds": seconds}


@cache.declare("q3-explore", Explored, _results_inputs)
def results(inputs: dict) -> dict:
    """(c)-(g) for the test images of ``budget()["explore"]`` (minutes on a CPU to compute)."""
    device, b = default_device(), inputs["budget"]
    model, reverse = load_identity(inputs["model"], device), load_identity(inputs["reverse"], device)
    generator, index = torch.Generator().manual_seed(inputs["seed"]), inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    x = load_images("test")[inputs["images"]].long()
    clock = time.perf_counter()
    pool = sample(model, b["top_proposals"], stop=HALF, generator=generator).cpu()
    pool_seconds = time.perf_counter() - clock
    parts = [answers(model, reverse, chunk, index, b, generator, pool) for chunk in x.split(CHUNK)]
    seconds = {k: sum(p["seconds"][k] for p in parts) for k in parts[0]["seconds"]}
    seconds["g"] += pool_seconds
    return {"indices": torch.tensor(inputs["images"]), "digits": test_digits()[inputs["images"]], "images": x,
            **{k: torch.cat([p[k] for p in parts]) for k in parts[0] if k not in ("seconds", "g_pool", "d_method")},
            "seconds": seconds}
