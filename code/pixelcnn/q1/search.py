"""Q1: the findings and claims of chapter 1.

Each section's numbers come from one frozen findings object (``search_findings``, ``batch_findings``; the
runs of the chosen configuration are in ``training_runs``, the comparisons with gated layers in ``gates``);
each claim its prose makes is a ``@claim`` below (its docstring quotes the sentence), run by ``check`` at
render time and by ``tests/test_claims.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd

from ..study import claims
from ..study.claims import claim
from ..study.config import Config
from ..study.runs import BATCH_IMAGES, BATCH_SIZES, SEARCH_SEEDS, config, trained
from .tables import batch_table, search_table, seed_table

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
    """"The Q1 model is the chosen configuration ...": it has the architecture of ``search-deep`` (its recipe is
    chapter 1's "Training the chosen model")."""
    q1, chosen = config("q1"), config(search.chosen)
    return q1.arch == chosen.arch and q1.model_kwargs() == chosen.model_kwargs()


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

    @property
    def best_batch(self) -> int:
        """The batch size with the lowest validation NLL of the study."""
        return int(self.grid.min(axis=1).idxmin())


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
