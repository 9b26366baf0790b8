"""Q1: the runs of the chosen configuration (chapter 1, "Training the chosen model"): what their curves show,
their findings and the claims the section's prose makes (``check``, as in ``search``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from ..study import claims
from ..study.claims import claim
from ..study.config import Config
from ..study.data import TRAIN_SIZE
from ..study.runs import config, evaluation, trained
from .search import SHOWN, BatchFindings
from .tables import largest_jump, round_ratios


def check(**findings) -> list[str]:
    """Run the section's claims on the given findings (``claims.check``)."""
    return claims.check(sys.modules[__name__], **findings)


@dataclass(frozen=True)
class Curves:
    """What the logged NLL of one run shows."""

    val_by_epoch: list[float]
    rise: tuple[int, float, float]  # (epoch, NLL after the epoch before, after it): the largest rise (none: equal)
    spike: tuple[int, float]  # (step, bits/dim above the moving average before it): the largest jump after warm-up
    spike_rate: float  # the learning rate at that step, as a share of the peak
    tail_share: float  # share of the validation gain after the first epoch made in the schedule's second half
    clipped_share: float  # share of the logged steps whose gradient norm was above the clipping threshold (0: none)
    norm_by_epoch: list[float]  # the median logged gradient norm (before clipping) of each epoch (none logged: [])

    def epochs_above(self, clip: float) -> list[int]:
        """The epochs (1-based) whose median gradient norm is above ``clip``."""
        return [k + 1 for k, norm in enumerate(self.norm_by_epoch) if norm > clip]

    @property
    def before_rise(self) -> tuple[int, float]:
        """(epoch, NLL): the lowest validation NLL before the largest rise."""
        before = self.val_by_epoch[:self.rise[0] - 1] or self.val_by_epoch[:1]
        return before.index(min(before)) + 1, min(before)


def curves_of(c: Config, metrics: pd.DataFrame) -> Curves:
    """The curves of a run of config ``c`` from its logged ``metrics``: its validation NLL by epoch, its largest
    rise and jump, its late gain."""
    val = metrics.dropna(subset=["val_bpd"])[["step", "val_bpd"]].reset_index(drop=True)
    # (the 1-based epoch whose NLL is higher, the NLL after the epoch before it, after it)
    rises = [(k + 2, val.val_bpd[k], val.val_bpd[k + 1]) for k in range(len(val) - 1)
             if val.val_bpd[k + 1] > val.val_bpd[k]]
    first, last = val.val_bpd.iloc[0], val.val_bpd.iloc[-1]
    before_half = val[val.step <= c.max_steps / 2].val_bpd  # (a short run, as in the smoke profile, may have none)
    at_half = before_half.iloc[-1] if len(before_half) else first
    spike = largest_jump(metrics, c.warmup_steps)
    norms = metrics["grad_norm"].dropna() if "grad_norm" in metrics else pd.Series(dtype=float)
    clipped = float((norms > c.grad_clip).mean()) if c.grad_clip and len(norms) else 0.0
    epoch_of = metrics.loc[norms.index, "step"] // math.ceil(c.train_images / c.batch_size)
    by_epoch = norms.groupby(epoch_of).median().tolist()
    return Curves(val.val_bpd.tolist(), max(rises, key=lambda r: r[2] - r[1]) if rises else (1, first, first),
                  spike, c.recipe.lr_factor(spike[0]),
                  (at_half - last) / (first - last) if first != last else 0.0, clipped,
                  by_epoch)


JUMP = 0.2  # a rise of the training NLL above its moving average (bits/dim) that the text calls a jump
TRAINED = ("q1-first", "q1-batch32", "q1-long", "q1")  # the runs of the chosen configuration, in the order made


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
    def q1_batch32(self) -> dict:
        return self.runs["q1-batch32"]

    @property
    def q1_long(self) -> dict:
        return self.runs["q1-long"]

    @property
    def q1(self) -> dict:
        return self.runs["q1"]


def training_findings(speed: dict) -> TrainingFindings:
    ratios = round_ratios(speed, "q1", "q1-first")
    runs = {}
    for name in TRAINED:
        entry, c = trained(name), config(name)  # one verified look-up per run
        runs[name] = {**entry.metrics, "config": c, "curves": curves_of(c, pd.read_csv(entry.path("metrics.csv"))),
                      "epochs": entry.metrics["train_images"] / TRAIN_SIZE,
                      "device": entry.manifest["hardware"]["device"]}
    return TrainingFindings({name: speed["training"][name]["images_per_second"] for name in ("q1", "q1-first")},
                            (min(ratios), max(ratios)), runs, evaluation("pretrained")["test_bpd"])


@claim
def small_batches_cost_no_throughput(training: TrainingFindings) -> bool:
    """"on this CPU, batches of 32 cost no throughput": the Q1 architecture at batch 32 is at least as fast as
    at batch 128 in every round of the benchmark but within its noise."""
    return training.batch_ratio[0] > 0.95 and config("q1").batch_size < config("q1-first").batch_size


@claim
def the_q1_model_ends_below_the_others(training: TrainingFindings) -> bool:
    """"The Q1 model ... ended at ... bits/dim on the test set, below every other run of the configuration and ...
    above the course's gated model"."""
    q1 = training.q1["test_bpd"]
    others = [run["test_bpd"] for name, run in training.runs.items() if name != "q1"]
    return training.course_test_bpd < q1 < min(others)


@claim
def the_second_run_was_not_smooth(training: TrainingFindings) -> bool:
    """"The run was not smooth: the training NLL jumps ... and the validation NLL after epoch ... is higher than
    after the epoch before"."""
    curves = training.q1_batch32["curves"]
    return curves.rise[2] > curves.rise[1] and curves.spike[1] > JUMP


@claim
def most_of_the_second_runs_gain_came_in_its_second_half(training: TrainingFindings) -> bool:
    """"most of the improvement came late ... in the second half of the schedule"."""
    return training.q1_batch32["curves"].tail_share > 0.5


@claim
def the_long_run_diverged_at_the_studys_best_rate(training: TrainingFindings, batch: BatchFindings) -> bool:
    """"It did worse: at step ... the training NLL jumps ... the validation NLL after epoch ... rises ... it ends
    at ... test bits/dim, above the second run ... The batch study could not see this: the jump comes after ...
    training images, where the study's runs end after ..."."""
    long, second = training.q1_long, training.q1_batch32
    return (long["curves"].spike[1] > 0.5 and long["curves"].rise[2] > long["curves"].rise[1]
            and long["test_bpd"] > second["test_bpd"]
            and long["curves"].spike[0] * long["config"].batch_size > batch.images)


@claim
def the_long_run_recovered_only_at_its_end(training: TrainingFindings) -> bool:
    """"Its validation NLL is back at the level it had before the jump (... after epoch ...) only after its last
    epoch (...)": every epoch from the rise to the last but one ends above that level, the last as shown at it
    or below."""
    curves = training.q1_long["curves"]
    level = curves.before_rise[1]
    between = curves.val_by_epoch[curves.rise[0] - 1:-1]
    return min(between) > level and round(curves.val_by_epoch[-1], SHOWN) <= round(level, SHOWN)


@claim
def both_unguarded_batch_32_runs_jumped_near_their_peak_rate(training: TrainingFindings) -> bool:
    """"Both runs in batches of 32 jumped while the rate was near its peak (the second run at ... of it, the
    longer run at ...)"."""
    runs = (training.q1_batch32, training.q1_long)
    return all(run["config"].batch_size == 32 and not run["config"].grad_clip and run["curves"].spike_rate > 0.75
               for run in runs)


@claim
def the_second_run_has_the_studys_batch_but_not_its_best_rate(training: TrainingFindings,
                                                             batch: BatchFindings) -> bool:
    """"Its batch size is the one the study supports; its peak rate ... is not the study's best"."""
    c = training.q1_batch32["config"]
    return c.batch_size == batch.best_batch and c.lr < batch.best_rate[batch.best_batch]


@claim
def the_long_run_has_the_studys_recipe(training: TrainingFindings, batch: BatchFindings) -> bool:
    """"we trained the configuration again with the recipe the study supports: batches of ..., its best peak rate
    ..., a warm-up over the same share of its steps ..., for ... epochs, twice the second run's"."""
    c, second = training.q1_long["config"], training.q1_batch32["config"]
    return (c.batch_size == batch.best_batch and c.lr == batch.best_rate[batch.best_batch]
            and c.warmup_steps / c.max_steps == batch.warmup_share and c.max_steps == 2 * second.max_steps
            and c.replace(lr=second.lr, max_steps=second.max_steps, warmup_steps=second.warmup_steps) == second)


@claim
def the_q1_model_is_the_long_run_with_two_guards(training: TrainingFindings) -> bool:
    """"The Q1 model is that longer run with two changes: the second run's peak rate, half the study's best ...,
    and the gradient's norm clipped to ... before each step"."""
    c, long, second = training.q1["config"], training.q1_long["config"], training.q1_batch32["config"]
    return c.grad_clip > 0 and c.lr == second.lr == long.lr / 2 and c == long.replace(lr=c.lr, grad_clip=c.grad_clip)


@claim
def the_q1_model_did_not_jump(training: TrainingFindings) -> bool:
    """"Its training NLL never rises more than ... bits/dim above its moving average after the warm-up: no jump.
    Its validation NLL rose after ... epochs, by at most ... after epoch ..., less than the second run's rise"."""
    curves, second = training.q1["curves"], training.q1_batch32["curves"]
    return curves.spike[1] < JUMP and 0 < curves.rise[2] - curves.rise[1] < second.rise[2] - second.rise[1]


@claim
def the_q1_gradient_norm_grew_past_the_threshold_and_fell_back(training: TrainingFindings) -> bool:
    """"the gradient's norm before clipping ... grew ... to ... and fell back to ... in the last epoch as the rate
    decayed; the median step was clipped in epochs ... to ..."."""
    curves, clip = training.q1["curves"], training.q1["config"].grad_clip
    above = curves.epochs_above(clip)
    return (min(curves.norm_by_epoch) < clip < max(curves.norm_by_epoch) and curves.norm_by_epoch[-1] < clip
            and above == list(range(above[0], above[-1] + 1)))


def rises(curves: Curves) -> int:
    """How many epochs ended with a higher validation NLL than the epoch before."""
    return sum(b > a for a, b in pairwise(curves.val_by_epoch))
