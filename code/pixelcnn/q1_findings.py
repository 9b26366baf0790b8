"""Q1: the findings and claims of chapter 1.

Each section's numbers come from one frozen findings object (``search_findings``, ``batch_findings``,
``training_findings``; the comparisons with gated layers are in ``q1_gates``); each claim its prose makes is a
``@claim`` below (its docstring quotes the sentence), run by ``check`` at render time and by
``tests/test_claims.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd

from . import claims
from .claims import claim
from .config import Config
from .data import TRAIN_SIZE
from .q1 import (
    batch_table,
    largest_jump,
    round_ratios,
    search_table,
    seed_table,
)
from .runs import (
    BATCH_IMAGES,
    BATCH_SIZES,
    SEARCH_SEEDS,
    config,
    evaluation,
    trained,
)

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
    """"The Q1 model is the chosen configuration trained with batches of ...": it differs from ``search-deep``
    only in batch size and length."""
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
class Curves:
    """What the logged NLL of one run shows."""

    val_by_epoch: list[float]
    rise: tuple[int, float, float]  # (epoch, NLL after the epoch before, after it): the largest rise (none: equal)
    spike: tuple[int, float]  # (step, bits/dim above the moving average before it): the largest jump after warm-up
    spike_rate: float  # the learning rate at that step, as a share of the peak
    lowest: tuple[int, float]  # (epoch, NLL): the run's lowest validation NLL
    tail_share: float  # share of the validation gain after the first epoch made in the schedule's second half


def curves_of(name: str) -> Curves:
    """The curves of the named run: its validation NLL by epoch, its largest rise and jump, its late gain."""
    c, metrics = config(name), pd.read_csv(trained(name).path("metrics.csv"))
    val = metrics.dropna(subset=["val_bpd"])[["step", "val_bpd"]].reset_index(drop=True)
    # (the 1-based epoch whose NLL is higher, the NLL after the epoch before it, after it)
    rises = [(k + 2, val.val_bpd[k], val.val_bpd[k + 1]) for k in range(len(val) - 1)
             if val.val_bpd[k + 1] > val.val_bpd[k]]
    first, last = val.val_bpd.iloc[0], val.val_bpd.iloc[-1]
    before_half = val[val.step <= c.max_steps / 2].val_bpd  # (a short run, as in the smoke profile, may have none)
    at_half = before_half.iloc[-1] if len(before_half) else first
    spike = largest_jump(metrics, c.warmup_steps)
    return Curves(val.val_bpd.tolist(), max(rises, key=lambda r: r[2] - r[1]) if rises else (1, first, first),
                  spike, c.lr_factor(spike[0]), (int(val.val_bpd.idxmin()) + 1, float(val.val_bpd.min())),
                  (at_half - last) / (first - last) if first != last else 0.0)


TRAINED = ("q1-first", "q1", "q1-long")  # the runs of the chosen configuration, in the order they were made


@dataclass(frozen=True)
class TrainingFindings:
    batch_rates: dict[str, float]  # images/s of the Q1 architecture in the benchmark: "q1" (batch 32), "q1-first"
    batch_ratio: tuple[float, float]  # batch 32 over batch 128: the smallest and largest over the rounds
    runs: dict[str, dict]  # per run of ``TRAINED``: its metrics, config, epochs, device and Curves ("curves")
    course_test_bpd: float

    @property
    def q1_first(self) -> dict:
        return self.runs["q1-first"]

    @property
    def q1(self) -> dict:
        return self.runs["q1"]

    @property
    def q1_long(self) -> dict:
        return self.runs["q1-long"]


def segments(run: dict) -> str:
    """How a run's clock was summed, as a phrase: "" for one segment, else ", summed over its 3 segments (it
    was stopped and resumed at steps 2,000 and 2,500)"."""
    steps = [f"{step:,}" for step in run.get("resumed_at_steps", [])]
    if not steps:
        return ""
    listed = steps[0] if len(steps) == 1 else f"{', '.join(steps[:-1])} and {steps[-1]}"
    plural = "s" if len(steps) > 1 else ""
    return f", summed over its {len(steps) + 1} segments (it was stopped and resumed at step{plural} {listed})"


def training_findings(speed: dict) -> TrainingFindings:
    ratios = round_ratios(speed, "q1", "q1-first")
    runs = {name: {**trained(name).metrics, "config": config(name), "curves": curves_of(name),
                   "epochs": trained(name).metrics["train_images"] / TRAIN_SIZE,
                   "device": trained(name).manifest["hardware"]["device"]} for name in TRAINED}
    return TrainingFindings({name: speed["training"][name]["images_per_second"] for name in ("q1", "q1-first")},
                            (min(ratios), max(ratios)), runs, evaluation("pretrained")["test_bpd"])


@claim
def small_batches_cost_no_throughput(training: TrainingFindings) -> bool:
    """"on this CPU, batches of 32 cost no throughput": the Q1 architecture at batch 32 is at least as fast as
    at batch 128 in every round of the benchmark but within its noise."""
    return training.batch_ratio[0] > 0.95 and config("q1").batch_size < config("q1-first").batch_size


@claim
def the_q1_run_ends_below_the_others(training: TrainingFindings) -> bool:
    """"The Q1 model ... ended at ... bits/dim on the test set, below the first and the longer run and ...
    above the course's gated model"."""
    q1 = training.q1["test_bpd"]
    return training.course_test_bpd < q1 < min(training.q1_first["test_bpd"], training.q1_long["test_bpd"])


@claim
def the_q1_run_was_not_smooth(training: TrainingFindings) -> bool:
    """"The run was not smooth: the training NLL jumps ... and the validation NLL after epoch ... is higher than
    after the epoch before"."""
    curves = training.q1["curves"]
    return curves.rise[2] > curves.rise[1] and curves.spike[1] > 0.2


@claim
def most_of_the_gain_came_in_the_second_half(training: TrainingFindings) -> bool:
    """"most of the improvement came late ... in the second half of the schedule"."""
    return training.q1["curves"].tail_share > 0.5


@claim
def the_long_run_diverged_at_the_studys_best_rate(training: TrainingFindings, batch: BatchFindings) -> bool:
    """"It did worse: at step ... the training NLL jumps ... the validation NLL after epoch ... rises ... it ends
    at ... test bits/dim, above the Q1 model ... The batch study could not see this: the jump comes after ...
    training images, where the study's runs end after ..."."""
    long, q1 = training.q1_long, training.q1
    return (long["curves"].spike[1] > 0.5 and long["curves"].rise[2] > long["curves"].rise[1]
            and long["test_bpd"] > q1["test_bpd"]
            and long["curves"].spike[0] * long["config"].batch_size > batch.images)


@claim
def both_batch_32_runs_jumped_near_their_peak_rate(training: TrainingFindings) -> bool:
    """"Both runs in batches of 32 jumped while the rate was near its peak (the Q1 run at ... of it, the longer
    run at ...)"."""
    runs = (training.q1, training.q1_long)
    return all(run["config"].batch_size == 32 and run["curves"].spike_rate > 0.75 for run in runs)


# --- The batch study ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFindings:
    table: pd.DataFrame  # batch_table
    grid: pd.DataFrame  # validation bits/dim as shown: a row per batch size, a column per peak learning rate
    images: int  # the training images of every run of the study
    warmup_share: float  # of every run's steps
    best_rate: dict[int, float]  # per batch size, the peak rate with the lowest validation NLL
    batch_gaps: pd.Series  # per peak rate, batch 128 minus batch 32, as shown
    rate_gains: pd.DataFrame  # per batch size, how much each doubling of the peak rate lowers the NLL, as shown
    noise: float  # the largest seed range of a configuration of the search
    warmup: tuple[float, float]  # batch 128 at the search's peak rate: validation NLL with the search's warm-up
    # (half the run: search-deep) and with an eighth of it, as shown
    largest_jump: float  # the largest rise of any run's training NLL above its moving average after warm-up


def batch_findings(search: SearchFindings) -> BatchFindings:
    table = batch_table()
    # (runs that one profile makes equal, as the smoke profile does, share a cell; a missing batch size is NaN)
    grid = table.pivot_table(index="batch", columns="peak lr", values="val bits/dim", aggfunc="first").reindex(
        BATCH_SIZES).round(SHOWN)
    rate = config("search-deep").lr
    with_search_warmup = round(trained("search-deep").metrics["val_bpd"], SHOWN)
    return BatchFindings(table, grid, BATCH_IMAGES, float((table["warm-up steps"] / table["steps"]).iloc[0]),
                         {int(b): float(row.idxmin()) for b, row in grid.iterrows() if row.notna().any()},
                         (grid.loc[max(BATCH_SIZES)] - grid.loc[min(BATCH_SIZES)]).round(SHOWN),
                         (-grid.diff(axis=1)).iloc[:, 1:].round(SHOWN), search.noise,
                         (with_search_warmup, float(grid.loc[config("search-deep").batch_size, rate])),
                         float(table["largest jump"].max()))


@claim
def the_study_varies_only_batch_and_rate(batch: BatchFindings) -> bool:
    """"every run sees the same ... images and warms up over the same share of its steps": the runs differ
    from ``search-deep`` only in batch size, steps, warm-up and peak rate."""
    def rest(name: str) -> Config:  # the config without what the study varies
        return config(name).replace(batch_size=1, max_steps=1, warmup_steps=1, lr=1.0)

    return ({rest(n) for n in batch.table.index} == {rest("search-deep")}
            and set(batch.table["steps"] * batch.table["batch"]) == {batch.images}
            and len(set(batch.table["warm-up steps"] / batch.table["steps"])) == 1)


@claim
def smaller_batches_learn_more_from_the_same_images(batch: BatchFindings) -> bool:
    """"At every peak rate, batches of 32 end ... below batches of 128, several times the seed range"."""
    return bool((batch.batch_gaps > 3 * batch.noise).all())


@claim
def a_higher_peak_rate_is_better_at_both_batch_sizes(batch: BatchFindings) -> bool:
    """"A higher peak rate is better at both batch sizes ...: each doubling lowers the validation NLL by ...,
    more than the seed range. The best rate is the highest tried"."""
    top = float(batch.grid.columns.max())
    return bool((batch.rate_gains.to_numpy() > batch.noise).all()) and set(batch.best_rate.values()) == {top}


@claim
def the_warmup_share_does_not_matter_here(batch: BatchFindings) -> bool:
    """"The warm-up share does not matter here ... within the seed range"."""
    return abs(batch.warmup[0] - batch.warmup[1]) <= batch.noise


@claim
def no_run_of_the_study_is_unstable(batch: BatchFindings) -> bool:
    """"No run of the study jumps: the training NLL of no run rises more than ... above its moving average"."""
    return batch.largest_jump < 0.1



@claim
def q1_has_the_studys_batch_but_not_its_best_rate(training: TrainingFindings, batch: BatchFindings) -> bool:
    """"Its batch size is the one the study supports; its peak rate ... is not the study's best"."""
    best_batch = int(batch.grid.min(axis=1).idxmin())
    return training.q1["config"].batch_size == best_batch and training.q1["config"].lr < batch.best_rate[best_batch]


@claim
def the_long_run_has_the_studys_recipe(training: TrainingFindings, batch: BatchFindings) -> bool:
    """"we trained the configuration again with the recipe the study supports: batches of ..., its best peak rate
    ..., a warm-up over the same share of its steps ..., for ... epochs, twice the Q1 run's"."""
    c, q1, best_batch = training.q1_long["config"], training.q1["config"], int(batch.grid.min(axis=1).idxmin())
    return (c.batch_size == best_batch and c.lr == batch.best_rate[best_batch]
            and c.warmup_steps / c.max_steps == batch.warmup_share and c.max_steps == 2 * q1.max_steps
            and c.replace(lr=q1.lr, max_steps=q1.max_steps, warmup_steps=q1.warmup_steps) == q1)
