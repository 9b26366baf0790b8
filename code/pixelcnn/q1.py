"""Q1: the tables and figure data of chapter 1, from the cached runs and the one side-by-side benchmark
(its findings and claims: ``q1_findings``).

``speed`` is the benchmark's metrics (``benchmark.run_and_cache().metrics``): every throughput of the
chapter is read from it, each the median of interleaved rounds whose spread it keeps.
"""

from __future__ import annotations

import pandas as pd

from .benchmark import spread
from .config import Config
from .data import TRAIN_SIZE
from .runs import EQUAL_DEPTH, SEARCH, config, seed_runs, trained

SHOWN = 3  # decimals of bits/dim in the tables; gaps in the text are taken between the values as shown


def rows_seen_above(c: Config) -> int:
    """How many rows above a pixel the vertical stack of a simple model reaches."""
    return c.first_kernel_size // 2 + c.layers * (c.kernel_size // 2)


def over_seeds(name: str, metric: str = "val_bpd") -> pd.Series:
    """A metric of the configuration ``name`` trained with each seed, indexed by seed."""
    return pd.Series({seed: trained(run).metrics[metric] for seed, run in seed_runs(name).items()})


def search_table(speed: dict) -> pd.DataFrame:
    """The equal-budget configuration search: architecture, size, throughput (median over the benchmark's
    rounds, and their spread) and validation bits/dim (mean over seeds, and their range), indexed by run."""
    rows = []
    for name in SEARCH:
        c, val, rate = config(name), over_seeds(name), speed["training"][name]
        rows.append({"run": name, "layers": c.layers, "channels": c.channels, "kernel": c.kernel_size,
                     "first kernel": c.first_kernel_size, "parameters": trained(name).metrics["parameters"],
                     "images/s": rate["images_per_second"],
                     "rate spread (%)": 100 * spread(rate["round_images_per_second"]),
                     "val bits/dim": val.mean(), "seed range": val.max() - val.min(),
                     "rows seen above": rows_seen_above(c)})
    return pd.DataFrame(rows).set_index("run", drop=False)


def seed_table() -> pd.DataFrame:
    """Validation bits/dim of every configuration of the search with each seed."""
    return pd.DataFrame([{"run": name, **{f"seed {seed}": v for seed, v in over_seeds(name).items()}}
                         for name in SEARCH])


def equal_depth(speed: dict) -> dict:
    """The gated and ungated models of equal depth: each run's entry and its training throughput in the
    benchmark's metrics ``speed``."""
    return {name: {"entry": trained(name), **speed["training"][name]} for name in EQUAL_DEPTH}


def equal_depth_table(pair: dict) -> pd.DataFrame:
    """Parameters, side-by-side throughput, minutes per epoch at that rate, and validation and test bits/dim
    after the same number of steps, for the equal-depth pair."""
    rows = []
    for name, v in pair.items():
        m = v["entry"].metrics
        rows.append({"run": name, "parameters": m["parameters"], "images/s": v["images_per_second"],
                     "minutes per epoch": TRAIN_SIZE / v["images_per_second"] / 60, "steps": m["steps"],
                     "val bits/dim": m["val_bpd"], "test bits/dim": m["test_bpd"]})
    return pd.DataFrame(rows).set_index("run", drop=False)


def cost_table(speed: dict) -> pd.DataFrame:
    """Training throughput (median and range over the benchmark's rounds) and useful arithmetic rate of
    Q1's architecture at batch 128 (shifted and masked kernels) and of the course's gated model."""
    rows = []
    for label, name in (("q1 (shifted kernels)", "q1-first"), ("q1 (masked kernels)", "q1 (masked kernels)"),
                        ("gated (course)", "gated (course)")):
        v = speed["training"][name]
        rows.append({"model": label, "images/s": v["images_per_second"],
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


def curves(pair: dict) -> dict[str, pd.DataFrame]:
    """Each run's logged metrics (train bits/dim per logged step; validation at the end)."""
    return {name: pd.read_csv(v["entry"].path("metrics.csv")) for name, v in pair.items()}


def at_equal_time(pair: dict, smooth: int = 3) -> dict:
    """When the faster run of the pair ends (minutes at side-by-side throughput), each run's smoothed training
    NLL at that time."""
    minutes, logged = minutes_per_step(pair), curves(pair)
    end = min(config(name).max_steps * minutes[name] for name in pair)
    values = {}
    for name, metrics in logged.items():
        train = metrics.dropna(subset=["train_bpd"]).set_index("step")["train_bpd"].ewm(span=smooth).mean()
        values[name] = float(train[train.index * minutes[name] <= end + 1e-9].iloc[-1])
    return {"minutes": end, "train_bpd": values}
