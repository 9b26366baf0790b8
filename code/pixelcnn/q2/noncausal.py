"""Q2: the tables, figure data, findings and claims of chapter 2 (the non-causal model).

The chapter's numbers come from one frozen ``Findings`` (``findings``); each claim its prose makes is a
``@claim`` below (its docstring quotes the sentence), run by ``check`` at render time and by the tests.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd
import torch

from ..core import inference as inf
from ..study import cache, claims
from ..study.claims import claim
from ..study.data import TRAIN_SIZE, load_images
from ..study.runs import config, identity, load, load_identity, trained

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


@dataclass(frozen=True)
class DependencyMaps:
    """Dependency maps (``inference.dependency_map``) of several models at one pixel of a test image."""

    inputs: dict  # ``dependency_maps.inputs()``: the models (name -> identity), the test image, the pixel, the seed
    maps: dict[str, torch.Tensor]  # model name -> [28, 28]

    def labelled(self) -> dict[str, torch.Tensor]:
        """The maps keyed by the figure's labels (``DEPENDENCY_MODELS``)."""
        return {DEPENDENCY_MODELS[name]: m for name, m in self.maps.items()}


def _dependency_inputs(image: int = 0, pixel: tuple[int, int] = (14, 14), seed: int = 0) -> dict:
    """Everything ``dependency_maps`` depends on: the three models, the test image, the pixel, the seed."""
    return {"models": {name: identity(name) for name in DEPENDENCY_MODELS}, "test_image": image,
            "pixel": list(pixel), "seed": seed}


@cache.declare("q2-dependency-maps", DependencyMaps, _dependency_inputs, whole="maps")
def dependency_maps(inputs: dict) -> dict[str, torch.Tensor]:
    """Dependency maps of Q1, Q2 and the course model at the pixel of a test image."""
    x = load_images("test")[inputs["test_image"]:inputs["test_image"] + 1].long()
    index = inf.raster_index(tuple(inputs["pixel"]), x.shape[-1])
    return {name: inf.dependency_map(load_identity(model), x, index, inputs["seed"])
            for name, model in inputs["models"].items()}


OWN_VALUE_MODELS = {"q1": "Q1 (causal)", "q2": "Q2 (non-causal)"}


@dataclass(frozen=True)
class OwnValueTerms:
    """q(v | the other pixels, own input v) for every value v, per model."""

    inputs: dict  # ``own_value_terms.inputs()``: the models (name -> identity), the test image, the pixel
    terms: dict[str, torch.Tensor]  # model name -> float64 [levels]


def _own_value_inputs(image: int = 0, pixel: tuple[int, int] = (14, 14)) -> dict:
    """Everything ``own_value_terms`` depends on: the Q1 and Q2 models, the test image and the pixel."""
    return {"models": {name: identity(name) for name in OWN_VALUE_MODELS}, "test_image": image, "pixel": list(pixel)}


@cache.declare("q2-own-values", OwnValueTerms, _own_value_inputs, whole="terms")
def own_value_terms(inputs: dict) -> dict[str, torch.Tensor]:
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


def own_value_sums(image: int = 0, pixel: tuple[int, int] = (14, 14)) -> pd.DataFrame:
    """For the Q1 and Q2 models at one pixel of a test image: set the pixel's input to each value v in turn
    and sum the probability the model then gives v there, sum_v q(v | the other pixels, own input v).

    A causal model ignores its own input, so the terms are p(v | x_<i) and sum to one; a model that reads
    its own input can give every value a high probability at once (``levels`` passes; cached)."""
    terms = own_value_terms(image, pixel).terms
    rows = [{"model": label, "sum over the 256 values": terms[name].sum().item(),
             "smallest term": terms[name].min().item(), "largest term": terms[name].max().item(),
             "terms above 0.5": int((terms[name] > 0.5).sum()), "terms above 0.1": int((terms[name] > 0.1).sum())}
            for name, label in OWN_VALUE_MODELS.items()]
    return pd.DataFrame(rows).set_index("model", drop=False)



# --- Findings and claims --------------------------------------------------------------------------
# A distribution gives more than 1/k to fewer than k outcomes: at most one more than 0.5, at most nine
# more than 0.1. A function that gives more is not a distribution.
MOST_ABOVE = {0.5: 1, 0.1: 9}


@dataclass(frozen=True)
class Findings:
    q2: dict  # the Q2 run's metrics
    q1_first: dict
    q1_test_bpd: float
    course_test_bpd: float
    first_val: dict[str, float]  # validation NLL after the first epoch: "q2", "q1-first"
    black: float  # share of the Q2 samples' pixels that are exactly 0
    tiny: pd.DataFrame  # tiny_sums
    own: pd.DataFrame  # own_value_sums at the middle pixel of the first test image


def findings(q2: cache.Entry, q1_first: cache.Entry, q1: cache.Entry, course: dict,
             samples: torch.Tensor) -> Findings:
    def first_val(entry: cache.Entry) -> float:
        return float(pd.read_csv(entry.path("metrics.csv"))["val_bpd"].dropna().iloc[0])

    return Findings({**q2.metrics, "epochs": q2.metrics["train_images"] / TRAIN_SIZE}, q1_first.metrics,
                    q1.metrics["test_bpd"], course["test_bpd"], {"q2": first_val(q2), "q1-first": first_val(q1_first)},
                    (samples == 0).double().mean().item(), tiny_sums(), own_value_sums(image=0, pixel=(14, 14)))


def check(**found) -> list[str]:
    """Run the chapter's claims on the given findings (``claims.check``)."""
    return claims.check(sys.modules[__name__], **found)


@claim
def q2_shares_the_first_q1_recipe(f: Findings) -> bool:
    """"It was trained with exactly the same recipe (configuration, data order, schedule and seed) as the
    first Q1 run"."""
    return config("q2") == config("q1-first").replace(arch="noncausal")


@claim
def the_non_causal_nll_is_below_every_causal_one(f: Findings) -> bool:
    """"the non-causal NLL falls below the causal model's within the first epoch and ends ... below even the
    course's larger gated model"."""
    return f.q2["test_bpd"] < min(f.q1_test_bpd, f.course_test_bpd) and f.first_val["q2"] < f.first_val["q1-first"]


@claim
def the_samples_are_black(f: Findings) -> bool:
    """"The samples ... therefore show no digit at all: ...% of their pixels are exactly 0"."""
    return f.black > 0.9


@claim
def the_causal_tiny_model_sums_to_one(f: Findings) -> bool:
    """"The causal model's values sum to one, as a distribution must"."""
    return abs(f.tiny.loc["tiny-causal", "sum of p(x) over all 512 images"] - 1) < 1e-4


@claim
def the_non_causal_tiny_model_is_no_distribution(f: Findings) -> bool:
    """"the non-causal model's values sum to far more than one: it gives ... of the 512 images a value above
    one half and ... a value above 0.1", more than any distribution can."""
    row = f.tiny.loc["tiny-noncausal"]
    return (row["sum of p(x) over all 512 images"] > 10 and row["images above 0.5"] > MOST_ABOVE[0.5]
            and row["images above 0.1"] > MOST_ABOVE[0.1])


@claim
def own_values_sum_to_one_only_for_the_causal_model(f: Findings) -> bool:
    """"For a causal model ... these are the 256 values of one distribution and sum to one; the Q2 model gives
    ... of them more than one half" (to 1e-5: the terms are fp32 softmax values)."""
    causal, noncausal = f.own.iloc[0], f.own.iloc[1]
    return (abs(causal["sum over the 256 values"] - 1) < 1e-5 and noncausal["sum over the 256 values"] > 10
            and noncausal["terms above 0.5"] > MOST_ABOVE[0.5] and noncausal["terms above 0.1"] > MOST_ABOVE[0.1])
