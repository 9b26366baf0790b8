"""Q1: what dropping the gates buys, the findings and claims of chapter 1's last two sections.

The cost of the simplification (``cost_findings``: throughputs side by side) and gated against ungated
layers at equal depth and at equal time (``equal_depth_findings``); each claim is a ``@claim`` below (its
docstring quotes the sentence), run by ``check`` at render time and by ``tests/test_claims.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd

from ..study import claims
from ..study.claims import claim
from ..study.runs import EQUAL_TIME_STEPS, SEARCH_STEPS, SEEDS, config
from .search import SHOWN, SearchFindings
from .tables import DEPTH7, curves, equal_depth, equal_depth_table, minutes_per_step, round_ratios, seed_table


def check(**findings) -> list[str]:
    """Run the sections' claims on the given findings (``claims.check``)."""
    return claims.check(sys.modules[__name__], **findings)


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
    runs: dict  # equal_depth(speed), by name (DEPTH7)
    table: pd.DataFrame  # equal_depth_table
    seeds: pd.DataFrame  # seed_table(DEPTH7)
    seed_count: int
    curves: dict[str, pd.DataFrame]  # the first seed's logged metrics
    minutes_per_step: dict[str, float]
    speedup: float  # images/s, ungated over gated, in the benchmark
    speedup_range: tuple[float, float]  # the same ratio in the benchmark's slowest and fastest round for it
    param_ratio: float  # parameters, gated over ungated
    own_noise: float  # the largest seed range of the three, as shown
    noise: float  # the yardstick of a gap: the larger of that and the search's largest seed range
    step_gap: float  # validation NLL, gated minus ungated after the same steps (means as shown)
    time_gap: float  # gated minus the ungated run whose schedule ends at the gated run's time
    time_ratio: float  # the equal-time run's minutes at side-by-side throughput over the gated run's
    first_kernels: dict[str, int]


def equal_depth_findings(speed: dict, search: SearchFindings) -> EqualDepthFindings:
    runs = equal_depth(speed)
    table, minutes = equal_depth_table(runs), minutes_per_step(runs)
    shown, ranges = table["val bits/dim"].round(SHOWN), table["seed range"].round(SHOWN)
    simple, gated, equal_time = DEPTH7
    per_round = round_ratios(speed, simple, gated)
    kernels = {simple: config(simple).first_kernel_size,
               gated: 3}  # the course's first stack convolutions are 3 wide (models.GatedPixelCNN)
    return EqualDepthFindings(
        runs, table, seed_table(DEPTH7, SEEDS), len(SEEDS), curves(DEPTH7), minutes,
        table.loc[simple, "images/s"] / table.loc[gated, "images/s"],
        (min(per_round), max(per_round)),
        table.loc[gated, "parameters"] / table.loc[simple, "parameters"], float(ranges.max()),
        max(float(ranges.max()), search.noise),
        round(shown[gated] - shown[simple], SHOWN), round(shown[gated] - shown[equal_time], SHOWN),
        table.loc[equal_time, "minutes"] / table.loc[gated, "minutes"], kernels)


@claim
def the_gated_model_is_bigger_and_slower(depth: EqualDepthFindings) -> bool:
    """"The gated model has ... times the parameters, and the ungated layers run ... times as many images per
    second"."""
    return depth.param_ratio > 1 and depth.speedup > 1


@claim
def the_equal_time_run_ends_with_the_gated_run(depth: EqualDepthFindings) -> bool:
    """"its schedule stretched to ... steps, which at the side-by-side rates take as long as the gated run's
    ... (the benchmark's rounds put that point between ... and ... steps)": the declared step count lies within
    the range the rounds of the benchmark give."""
    simple, gated, _ = DEPTH7
    low, high = (SEARCH_STEPS * r for r in depth.speedup_range)
    return low <= EQUAL_TIME_STEPS <= high and config(gated).max_steps == config(simple).max_steps == SEARCH_STEPS


@claim
def per_step_the_pair_is_undecided(depth: EqualDepthFindings) -> bool:
    """"Step for step ... we do not call this gap decided": it is within the yardstick."""
    return abs(depth.step_gap) <= depth.noise


@claim
def at_equal_time_the_ungated_model_is_better(depth: EqualDepthFindings) -> bool:
    """"At equal time the ungated model is better ... more than the yardstick, and below it with every seed"."""
    _, gated, equal_time = DEPTH7
    every_seed = depth.runs[equal_time]["val"].max() < depth.runs[gated]["val"].min()
    low, high = (EQUAL_TIME_STEPS / (SEARCH_STEPS * r) for r in reversed(depth.speedup_range))
    return depth.time_gap > depth.noise and every_seed and low <= depth.time_ratio <= high
