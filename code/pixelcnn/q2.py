"""Q2: the tables and figure data of chapter 2 (the non-causal model)."""

from __future__ import annotations

import pandas as pd
import torch

from . import cache
from . import inference as inf
from .data import load_images
from .runs import identity, load, load_identity, trained

TINY_RUNS = ("tiny-causal", "tiny-noncausal")
DEPENDENCY_MODELS = {"q1": "Q1 (causal)", "q2": "Q2 (non-causal)", "pretrained": "course model (gated, dilated)"}


def tiny_sums() -> pd.DataFrame:
    """For the tiny causal and non-causal models: test bits/dim, the sum of the model's p(x) over all 512
    images of 3x3 binary pixels, and how many of them get a value above 0.5 and above 0.1."""
    rows = []
    for name in TINY_RUNS:
        p = inf.log_prob(load(name), inf.all_images(2, (3, 3))).double().exp()
        rows.append({"model": name, "test bits/dim": trained(name).metrics["test_bpd"],
                     "sum of p(x) over all 512 images": p.sum().item(), "images above 0.5": int((p > 0.5).sum()),
                     "images above 0.1": int((p > 0.1).sum())})
    return pd.DataFrame(rows).set_index("model", drop=False)


def dependency_inputs(image: int = 0, pixel: tuple[int, int] = (14, 14), seed: int = 0) -> dict:
    """Everything ``dependency_maps`` depends on: the three models, the test image, the pixel, the seed."""
    return {"models": {name: identity(name) for name in DEPENDENCY_MODELS}, "test_image": image,
            "pixel": list(pixel), "seed": seed}


def dependency_maps(image: int = 0, pixel: tuple[int, int] = (14, 14)) -> dict[str, torch.Tensor]:
    """Dependency maps (``inference.dependency_map``) of Q1, Q2 and the course model at ``pixel`` of a
    test image, labelled for the figure (cached)."""
    maps = cache.tensors("estimate", dependency_inputs(image, pixel), _dependency_maps)
    return {label: maps[name] for name, label in DEPENDENCY_MODELS.items()}


def _dependency_maps(inputs: dict) -> dict[str, torch.Tensor]:
    x = load_images("test")[inputs["test_image"]:inputs["test_image"] + 1].long()
    index = inf.raster_index(tuple(inputs["pixel"]), x.shape[-1])
    return {name: inf.dependency_map(load_identity(model), x, index, inputs["seed"])
            for name, model in inputs["models"].items()}


OWN_VALUE_MODELS = {"q1": "Q1 (causal)", "q2": "Q2 (non-causal)"}


def own_value_inputs(image: int = 0, pixel: tuple[int, int] = (14, 14)) -> dict:
    """Everything ``own_value_sums`` depends on: the Q1 and Q2 models, the test image and the pixel."""
    return {"models": {name: identity(name) for name in OWN_VALUE_MODELS}, "test_image": image, "pixel": list(pixel)}


def own_value_sums(image: int = 0, pixel: tuple[int, int] = (14, 14)) -> pd.DataFrame:
    """For the Q1 and Q2 models at one pixel of a test image: set the pixel's input to each value v in turn
    and sum the probability the model then gives v there, sum_v q(v | the other pixels, own input v).

    A causal model ignores its own input, so the terms are p(v | x_<i) and sum to one; a model that reads
    its own input can give every value a high probability at once (``levels`` passes; cached)."""
    terms = cache.tensors("estimate", own_value_inputs(image, pixel), _own_value_terms)
    rows = [{"model": label, "sum over the 256 values": terms[name].sum().item(),
             "smallest term": terms[name].min().item(), "largest term": terms[name].max().item()}
            for name, label in OWN_VALUE_MODELS.items()]
    return pd.DataFrame(rows).set_index("model", drop=False)


def _own_value_terms(inputs: dict) -> dict[str, torch.Tensor]:
    """name -> [levels] float64: q(v | the other pixels, own input v) for every value v."""
    x = load_images("test")[inputs["test_image"]:inputs["test_image"] + 1].long()
    index = inf.raster_index(tuple(inputs["pixel"]), x.shape[-1])
    terms = {}
    for name, model_identity in inputs["models"].items():
        model = load_identity(model_identity)
        candidates = x.repeat(model.levels, 1, 1, 1)
        candidates.view(model.levels, -1)[:, index] = torch.arange(model.levels)
        terms[name] = inf.pixel_log_probs(model, candidates)[:, index].double().exp()
    return terms
