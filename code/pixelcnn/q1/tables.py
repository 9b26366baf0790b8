"""Q1: the tables and figure data of chapter 1, from the cached runs and the one side-by-side benchmark
(its findings and claims: ``search``, ``training_runs`` and ``gates``).

``speed`` is the benchmark's metrics (``benchmark.run_and_cache().metrics``): every throughput of the
chapter is read from it, each the median of interleaved rounds whose spread it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..study.benchmark import spread
from ..study.config import Config
from ..study.runs import BATCH_STUDY, EQUAL_TIME, SEARCH, SEARCH_SEEDS, SEEDS, config, seed_runs, trained

SHOWN = 3  # decimals of bits/dim in the tables; gaps in the text are taken between the values as shown


def rows_seen_above(c: Config) -> int:
    """How many rows above a pixel the vertical stack of a simple model reaches."""
    return c.first_kernel_size // 2 + c.layers * (c.kernel_size // 2)


def over_seeds(name: str, metric: str = "val_bpd", seeds: tuple[int, ...] = SEEDS) -> pd.Series:
    """A metric of the configuration ``name`` trained with each of ``seeds``, indexed by seed."""
    return pd.Series({seed: trained(run).metrics[metric] for seed, run in seed_runs(name, seeds).items()})


def search_table(speed: dict) -> pd.DataFrame:
    """The equal-budget configuration search: architecture, size, throughput (median over the benchmark's
    rounds, and their spread) and validation bits/dim (mean over seeds, and their range), indexed by run."""
    rows = []
    for name in SEARCH:
        c, val, rate = config(name), over_seeds(name, seeds=SEARCH_SEEDS), speed["training"][name]
        rows.append({"run": name, "layers": c.layers, "channels": c.channels, "kernel": c.kernel_size,
                     "first kernel": c.first_kernel_size, "parameters": trained(name).metrics["parameters"],
                     "images/s": rate["images_per_second"],
                     "rate spread (%)": 100 * spread(rate["round_images_per_second"]),
                     "val bits/dim": val.mean(), "seed range": val.max() - val.min(),
                     "rows seen above": rows_seen_above(c)})
    return pd.DataFrame(rows).set_index("run", drop=False)


def seed_table(names: Iterable[str] = tuple(SEARCH), seeds: tuple[int, ...] = SEARCH_SEEDS) -> pd.DataFrame:
    """Validation bits/dim of every configuration ``names`` (the search's) with each of ``seeds``."""
    return pd.DataFrame([{"run": name, **{f"seed {seed}": v for seed, v in over_seeds(name, seeds=seeds).items()}}
                         for name in names])


# The 7-layer runs: ungated and gated after the same steps, and the ungated one at the gated run's time.
DEPTH7 = ("depth7-simple", "depth7-gated", next(iter(EQUAL_TIME)))


def benchmark_name(name: str) -> str:
    """The benchmark's name for the architecture and batch of run ``name`` (the equal-time run is measured as
    ``depth7-simple``)."""
    return "depth7-simple" if name in EQUAL_TIME else name


def equal_depth(speed: dict) -> dict:
    """The 7-layer runs (``DEPTH7``): each one's first-seed entry, its validation and test bits/dim over the
    seeds, and its architecture's training throughput in the benchmark's metrics ``speed``."""
    return {name: {"entry": trained(name), "val": over_seeds(name), "test": over_seeds(name, "test_bpd"),
                   **speed["training"][benchmark_name(name)]} for name in DEPTH7}


def equal_depth_table(runs: dict) -> pd.DataFrame:
    """Parameters, side-by-side throughput, steps and the minutes they take at that rate, and validation (mean
    over seeds, and their range) and test bits/dim (mean) of the 7-layer runs."""
    minutes = minutes_per_step(runs)
    rows = []
    for name, v in runs.items():
        m = v["entry"].metrics
        rows.append({"run": name, "parameters": m["parameters"], "images/s": v["images_per_second"],
                     "steps": m["steps"], "minutes": m["steps"] * minutes[name], "val bits/dim": v["val"].mean(),
                     "seed range": v["val"].max() - v["val"].min(), "test bits/dim": v["test"].mean()})
    return pd.DataFrame(rows).set_index("run", drop=False)


def cost_table(speed: dict) -> pd.DataFrame:
    """Training throughput (median and range over the benchmark's rounds) and useful arithmetic rate of
    Q1's architecture (shifted kernels in batches of 32, the Q1 recipe, and 128; masked kernels) and of the
    course's gated model."""
    rows = []
    for label, name in (("q1, shifted kernels", "q1"), ("q1, shifted kernels", "q1-first"),
                        ("q1, masked kernels", "q1 (masked kernels)"), ("gated (course)", "gated (course)")):
        v = speed["training"][name]
        rows.append({"model": label, "batch": v["batch_size"], "images/s": v["images_per_second"],
                     "slowest round": min(v["round_images_per_second"]),
                     "fastest round": max(v["round_images_per_second"]), "useful GFLOP/s": v["useful_gflops"]})
    return pd.DataFrame(rows)


def round_ratios(speed: dict, a: str, b: str) -> list[float]:
    """Throughput of ``a`` over ``b`` in each interleaved round of the benchmark."""
    rounds = speed["training"]
    return [x / y for x, y in zip(rounds[a]["round_images_per_second"], rounds[b]["round_images_per_second"],
                                  strict=True)]


def minutes_per_step(pair: dict) -> dict[str, float]:
    """Minutes one training step of each run takes at its side-by-side throughput."""
    return {name: config(name).batch_size / v["images_per_second"] / 60 for name, v in pair.items()}


def curves(runs: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Each run's logged metrics (train bits/dim per logged step; validation at the end), by name."""
    return {name: pd.read_csv(trained(name).path("metrics.csv")) for name in runs}


def largest_jump(metrics: pd.DataFrame, after_step: int, span: int = 25) -> tuple[int, float]:
    """(step, bits/dim): the largest rise of the logged training NLL above its moving average (span ``span``
    logged points) up to the point before, among the steps after ``after_step``; (0, 0.0) for none."""
    train = metrics.dropna(subset=["train_bpd"]).set_index("step")["train_bpd"]
    later = train[train.index > after_step]
    jumps = (later - train.ewm(span=span).mean().shift(1)[later.index]).dropna()
    return (int(jumps.idxmax()), float(jumps.max())) if len(jumps) else (0, 0.0)


def batch_table() -> pd.DataFrame:
    """The batch study: for each run of ``BATCH_STUDY``, its batch size, peak learning rate, steps, warm-up
    steps, the largest rise of its training NLL above its moving average after the warm-up (0 when it stays
    below), and its validation bits/dim."""
    rows = []
    for name, metrics in curves(BATCH_STUDY).items():
        c, m = config(name), trained(name).metrics
        rows.append({"run": name, "batch": c.batch_size, "peak lr": c.lr, "steps": c.max_steps,
                     "warm-up steps": c.warmup_steps,
                     "largest jump": max(0.0, largest_jump(metrics, c.warmup_steps, ema_span(c.batch_size))[1]),
                     "val bits/dim": m["val_bpd"]})
    return pd.DataFrame(rows).set_index("run", drop=False)


def ema_span(batch_size: int, points: int = 25, reference: int = 32) -> int:
    """The span, in logged batches of ``batch_size``, of a moving average over as many training images as
    ``points`` logged batches of ``reference`` (runs with larger batches log fewer points per image)."""
    return max(2, round(points * reference / batch_size))


def batch_curves() -> pd.DataFrame:
    """The batch study's training NLL against training images, as an exponential moving average over the same
    number of images for every batch size: columns training images, NLL (bits/dim), batch, peak lr."""
    frames = []
    for name, metrics in curves(BATCH_STUDY).items():
        c, train = config(name), metrics.dropna(subset=["train_bpd"])
        frames.append(pd.DataFrame({"training images": train["step"] * c.batch_size,
                                    "NLL (bits/dim)": train["train_bpd"].ewm(span=ema_span(c.batch_size)).mean(),
                                    "batch": f"batch {c.batch_size}", "peak lr": f"{c.lr:g}"}))
    return pd.concat(frames, ignore_index=True)


def training_runs_table(runs: dict[str, dict]) -> pd.DataFrame:
    """The runs of the chosen configuration (``TrainingFindings.runs``), one row each in the order trained: the
    recipe (batch, peak rate, clipping, epochs), the largest jump of the training NLL above its moving average
    after the warm-up (bits/dim, and the step), the largest rise of the validation NLL over an epoch, the test NLL."""
    rows = []
    for name, run in runs.items():
        c, curves = run["config"], run["curves"]
        rows.append({"run": name, "batch": c.batch_size, "peak lr": c.lr, "clip": c.grad_clip or "–",
                     "epochs": round(run["epochs"]), "largest jump": curves.spike[1], "at step": curves.spike[0],
                     "largest val rise": max(curves.rise[2] - curves.rise[1], 0.0), "test bits/dim": run["test_bpd"]})
    return pd.DataFrame(rows)
