"""Q1: the findings and claims of chapter 1.

Each section's numbers come from one frozen findings object (``search_findings``, ``training_findings``,
``cost_findings``, ``equal_depth_findings``); each claim its prose makes is a ``@claim`` below (its
docstring quotes the sentence), run by ``check`` at render time and by ``tests/test_claims.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd

from . import cache, claims
from .claims import claim
from .data import TRAIN_SIZE
from .q1 import (
    at_equal_time,
    curves,
    equal_depth,
    equal_depth_table,
    minutes_per_step,
    round_ratios,
    search_table,
    seed_table,
)
from .runs import EPOCH_STEPS, RECIPE, SEARCH_SEEDS, config, evaluation, trained

SHOWN = 3  # decimals of bits/dim in the tables; gaps in the text are taken between the values as shown


def check(**findings) -> list[str]:
    """Run the chapter's claims on the given findings (``claims.check``)."""
    return claims.check(sys.modules[__name__], **findings)


# --- Choosing a configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFindings:
    table: pd.DataFrame  # search_table
    seeds: pd.DataFrame  # seed_table
    seed_count: int
    steps: int  # the equal budget of every candidate
    batch_size: int
    noise: float  # the largest range of one configuration's validation NLL over its seeds, as shown
    noisiest: str  # the configuration with that range
    best: str  # the candidate with the lowest mean validation NLL
    chosen: str  # the architecture of the Q1 run
    gap: float  # |chosen - best| between the means as shown
    gains: pd.Series  # base minus each other candidate, means as shown
    beyond: list[str]  # gains larger than the noise
    within: list[str]
    close: list[str]  # the candidates whose mean is within the noise of the best one


def search_findings(speed: dict) -> SearchFindings:
    table, seeds = search_table(speed), seed_table()
    shown, ranges = table["val bits/dim"].round(SHOWN), table["seed range"].round(SHOWN)
    gains = (shown["search-base"] - shown.drop("search-base")).round(SHOWN)
    best, chosen, noise = shown.idxmin(), "search-deep", float(ranges.max())
    return SearchFindings(table, seeds, len(SEARCH_SEEDS), config("search-base").max_steps,
                          config("search-base").batch_size, noise, ranges.idxmax(), best, chosen,
                          round(abs(shown[chosen] - shown[best]), SHOWN), gains,
                          [n for n in gains.index if gains[n] > noise], [n for n in gains.index if gains[n] <= noise],
                          [n for n in shown.index if shown[n] - shown[best] <= noise])


@claim
def the_q1_run_has_the_chosen_architecture(search: SearchFindings) -> bool:
    """"The Q1 model is therefore the chosen configuration trained with batches of ...": it differs from
    ``search-deep`` only in batch size and length."""
    return config("q1").replace(max_steps=1, batch_size=1) == config(search.chosen).replace(max_steps=1, batch_size=1)


@claim
def every_change_ends_below_the_base(search: SearchFindings) -> bool:
    """"More layers, larger kernels and more channels all end below `search-base`"."""
    return bool((search.gains > 0).all())


@claim
def deep_is_among_the_best_and_sees_more_rows_than_wide(search: SearchFindings) -> bool:
    """"the configurations within the seed range of the best mean are ...; `search-deep` sees ... rows above each
    pixel against ... for `search-wide` ... `search-kernel5` sees further still ... but trains more slowly"."""
    t = search.table
    return bool(search.chosen in search.close
                and t.loc["search-deep", "rows seen above"] > t.loc["search-wide", "rows seen above"]
                < t.loc["search-kernel5", "rows seen above"]
                and t.loc["search-kernel5", "images/s"] < t.loc["search-deep", "images/s"])


@claim
def chance_is_as_large_as_most_of_the_differences(search: SearchFindings) -> bool:
    """"Chance is as large as most of the differences": at most one gain over the base exceeds the seed range."""
    return len(search.beyond) <= 1


@claim
def the_best_two_are_within_the_seed_spread(search: SearchFindings) -> bool:
    """"The short budget does not separate the best two ... less than the seed spread"."""
    return search.gap <= search.noise


# --- Training the chosen model --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFindings:
    recipe: dict[str, dict]  # search-deep and recipe-batch32: metrics, batch size, warm-up share of the run
    batch_rates: dict[str, float]  # images/s of the Q1 architecture in the benchmark: "q1" (batch 32), "q1-first"
    batch_ratio: tuple[float, float]  # batch 32 over batch 128: the smallest and largest over the rounds
    q1: dict  # the Q1 run's metrics, config and what its curves show
    q1_first: dict
    course_test_bpd: float
    val_by_epoch: list[float]
    rise: tuple[int, float, float]  # (epoch, NLL after the epoch before, after it): the largest rise (none: equal)
    spike: tuple[int, float]  # (step, bits/dim above the moving average before it): the largest jump
    tail_share: float  # share of the validation gain after the first epoch made in the schedule's second half


def training_findings(speed: dict, q1: cache.Entry, q1_first: cache.Entry) -> TrainingFindings:
    recipe = {}
    for name in ("search-deep", *RECIPE):
        c = config(name)
        recipe[name] = {**trained(name).metrics, "batch_size": c.batch_size, "epochs": c.max_steps / EPOCH_STEPS[
            c.batch_size], "warmup_share": c.warmup_steps / c.max_steps}
    metrics = pd.read_csv(q1.path("metrics.csv"))
    val = metrics.dropna(subset=["val_bpd"])[["step", "val_bpd"]].reset_index(drop=True)
    # (the 1-based epoch whose NLL is higher, the NLL after the epoch before it, after it)
    rises = [(k + 2, val.val_bpd[k], val.val_bpd[k + 1]) for k in range(len(val) - 1)
             if val.val_bpd[k + 1] > val.val_bpd[k]]
    train = metrics.dropna(subset=["train_bpd"]).set_index("step")["train_bpd"]
    after_warmup = train[train.index > config("q1").warmup_steps * 3]
    jumps = (after_warmup - train.ewm(span=25).mean().shift(1)[after_warmup.index]).dropna()
    half = config("q1").max_steps / 2
    first, last = val.val_bpd.iloc[0], val.val_bpd.iloc[-1]
    before_half = val[val.step <= half].val_bpd  # (a short run, as in the smoke profile, may have none)
    at_half = before_half.iloc[-1] if len(before_half) else first
    c, ratios = config("q1"), round_ratios(speed, "q1", "q1-first")
    return TrainingFindings(
        recipe, {name: speed["training"][name]["images_per_second"] for name in ("q1", "q1-first")},
        (min(ratios), max(ratios)),
        {**q1.metrics, "config": c, "epochs": q1.metrics["train_images"] / TRAIN_SIZE,
         "device": q1.manifest["hardware"]["device"]},
        {**q1_first.metrics, "epochs": q1_first.metrics["train_images"] / TRAIN_SIZE},
        evaluation("pretrained")["test_bpd"], val.val_bpd.tolist(),
        max(rises, key=lambda r: r[2] - r[1]) if rises else (1, first, first),
        (int(jumps.idxmax()), float(jumps.max())) if len(jumps) else (0, 0.0),
        (at_half - last) / (first - last) if first != last else 0.0)


@claim
def smaller_batches_learn_more_per_image(training: TrainingFindings, search: SearchFindings) -> bool:
    """"the same architecture trained on the same ... images in batches of 32 instead of 128 ... reached ...
    validation bits/dim instead of ..., a gain far larger than any of the architecture changes"."""
    small, large = training.recipe["recipe-batch32"], training.recipe["search-deep"]
    spread = search.table["val bits/dim"].max() - search.table["val bits/dim"].min()
    return small["train_images"] == large["train_images"] and large["val_bpd"] - small["val_bpd"] > max(0.02, spread)


@claim
def small_batches_cost_no_throughput(training: TrainingFindings) -> bool:
    """"on this CPU, batches of 32 cost no throughput": the Q1 architecture at batch 32 is at least as fast as
    at batch 128 in every round of the benchmark but within its noise."""
    return training.batch_ratio[0] > 0.95 and config("q1").batch_size < config("q1-first").batch_size


@claim
def the_longer_recipe_beats_the_first_run(training: TrainingFindings) -> bool:
    """"The Q1 model is therefore the chosen configuration trained with batches of 32 ...": it ends below
    the first run, and above the course's gated model."""
    return training.course_test_bpd < training.q1["test_bpd"] < training.q1_first["test_bpd"]


@claim
def the_run_was_not_smooth(training: TrainingFindings) -> bool:
    """"The run was not smooth: the training NLL jumps ... and the validation NLL rises after epoch ..."."""
    return training.rise[2] > training.rise[1] and training.spike[1] > 0.2


@claim
def most_of_the_gain_came_in_the_second_half(training: TrainingFindings) -> bool:
    """"most of the improvement came late ... in the second half of the schedule"."""
    return training.tail_share > 0.5


# --- What the simplification buys -----------------------------------------------------------------


@dataclass(frozen=True)
class CostFindings:
    simple_vs_gated: tuple[float, float, float]  # Q1's architecture over the course model: median, min, max
    shifted_vs_masked: tuple[float, float, float]  # over the rounds of the benchmark
    same_architecture: tuple[float, float, float]  # one architecture measured twice (q1-first, search-deep)
    noise: float  # how far from 1 the ratio of one architecture to itself went in any round
    matmul_bf16: float


def cost_findings(speed: dict) -> CostFindings:
    def summary(a: str, b: str) -> tuple[float, float, float]:
        r = round_ratios(speed, a, b)
        return float(pd.Series(r).median()), min(r), max(r)

    same = summary("q1-first", "search-deep")
    return CostFindings(summary("q1-first", "gated (course)"), summary("q1-first", "q1 (masked kernels)"), same,
                        max(abs(same[1] - 1), abs(same[2] - 1)), speed["matmul_gflops"]["bfloat16"])


@claim
def the_benchmark_measured_one_architecture_twice(cost: CostFindings) -> bool:
    """"two copies of one architecture (`q1-first` and `search-deep`) ...": they differ in run length only."""
    return config("q1-first").replace(max_steps=1) == config("search-deep").replace(max_steps=1)


@claim
def the_simple_model_is_cheaper_than_the_gated_one(cost: CostFindings) -> bool:
    """"Per training image, the Q1 architecture trains ... times as fast as the course's gated model": in every
    round, by more than one architecture differs from itself."""
    return cost.simple_vs_gated[1] > 1 + cost.noise


@claim
def shifted_kernels_are_not_faster(cost: CostFindings) -> bool:
    """"the saved arithmetic did not make training faster here": shifted kernels never beat the masked ones by
    more than the noise."""
    return cost.shifted_vs_masked[2] <= 1 + cost.noise


# --- Gates at equal depth -------------------------------------------------------------------------


@dataclass(frozen=True)
class EqualDepthFindings:
    pair: dict  # equal_depth(speed)
    table: pd.DataFrame  # equal_depth_table
    curves: dict[str, pd.DataFrame]
    minutes_per_step: dict[str, float]
    equal_time: dict  # at_equal_time
    speedup: float  # images/s, ungated over gated, in the benchmark
    param_ratio: float  # parameters, gated over ungated
    step_gap: float  # |val NLL difference| after the same steps, as shown
    lower: str  # the run with the lower validation NLL
    noise: float  # the largest seed range of a configuration of the search
    gated_step_at_equal_time: int  # the gated run's step when the ungated run has finished
    gated_warmup: int
    gated_lr_share: float  # its learning rate then, as a share of the peak
    first_kernels: dict[str, int]


def equal_depth_findings(speed: dict, search: SearchFindings) -> EqualDepthFindings:
    pair = equal_depth(speed)
    table, minutes = equal_depth_table(pair), minutes_per_step(pair)
    equal_time = at_equal_time(pair)
    shown = table["val bits/dim"].round(SHOWN)
    gated = config("depth7-gated")
    step = int(equal_time["minutes"] / minutes["depth7-gated"])
    kernels = {"depth7-simple": config("depth7-simple").first_kernel_size,
               "depth7-gated": 3}  # the course's first stack convolutions are 3 wide (models.GatedPixelCNN)
    return EqualDepthFindings(
        pair, table, curves(pair), minutes, equal_time,
        table.loc["depth7-simple", "images/s"] / table.loc["depth7-gated", "images/s"],
        table.loc["depth7-gated", "parameters"] / table.loc["depth7-simple", "parameters"],
        round(abs(shown["depth7-gated"] - shown["depth7-simple"]), SHOWN), shown.idxmin(), search.noise,
        step, gated.warmup_steps, gated.lr_factor(step), kernels)


@claim
def the_gated_model_is_bigger_and_slower(depth: EqualDepthFindings) -> bool:
    """"The gated model has ... times the parameters, and the ungated layers run ... times as many images per
    second"."""
    return depth.param_ratio > 1 and depth.speedup > 1


@claim
def per_step_the_pair_is_undecided(depth: EqualDepthFindings) -> bool:
    """"Step for step, the two end ... apart ... we do not call this gap decided": it is within the largest
    seed range of the search."""
    return depth.step_gap <= depth.noise


@claim
def at_equal_time_the_gated_run_is_still_at_a_high_rate(depth: EqualDepthFindings) -> bool:
    """"at that time the gated run has taken only ... of its ... steps, ... still at ...% of its peak learning
    rate, while the ungated run has annealed its rate to zero"."""
    return depth.gated_lr_share > 0.5 and depth.gated_step_at_equal_time < config("depth7-gated").max_steps
