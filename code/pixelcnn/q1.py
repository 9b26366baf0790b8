"""Q1: the tables and figure data of chapter 1, from the cached runs and the side-by-side benchmark
(its findings and claims: ``q1_findings``)."""

from __future__ import annotations

import pandas as pd

from . import cache
from .benchmark import training_throughput
from .config import Config
from .data import TRAIN_SIZE
from .runs import EQUAL_DEPTH, SEARCH, SEARCH_REPEATS, SEARCH_SEEDS, config, trained

SHOWN = 3  # decimals of bits/dim in the tables; gaps in the text are taken between the values as shown


def rows_seen_above(c: Config) -> int:
    """How many rows above a pixel the vertical stack of a simple model reaches."""
    return c.first_kernel_size // 2 + c.layers * (c.kernel_size // 2)


def search_table(speed: dict) -> pd.DataFrame:
    """The equal-budget configuration search: architecture, size, throughput (``speed``: the benchmark's
    metrics) and validation bits/dim of each candidate, indexed by run name."""
    rows = []
    for name in SEARCH:
        c, metrics = config(name), trained(name).metrics
        rows.append({"run": name, "layers": c.layers, "channels": c.channels, "kernel": c.kernel_size,
                     "first kernel": c.first_kernel_size, "parameters": metrics["parameters"],
                     "images/s": speed["training"][name]["images_per_second"], "val bits/dim": metrics["val_bpd"],
                     "rows seen above": rows_seen_above(c)})
    return pd.DataFrame(rows).set_index("run", drop=False)


def seed_table() -> pd.DataFrame:
    """The base configuration of the search trained with each seed: its validation bits/dim."""
    names = {SEARCH_SEEDS[0]: "search-base", **{seed: f"search-base-seed{seed}" for seed in SEARCH_SEEDS[1:]}}
    assert set(names.values()) - {"search-base"} == set(SEARCH_REPEATS)
    return pd.DataFrame([{"run": name, "seed": seed, "val bits/dim": trained(name).metrics["val_bpd"]}
                         for seed, name in names.items()])


def equal_depth_inputs() -> dict:
    """Everything the side-by-side throughput of the equal-depth pair depends on: their configs."""
    return {"equal_depth": {name: config(name).to_dict() for name in EQUAL_DEPTH}}


def equal_depth() -> dict:
    """The gated and ungated models of equal depth: each run's entry and its training throughput measured side
    by side in one benchmark run (cached: the runs' own clocks shared the machine with other work)."""
    inputs = equal_depth_inputs()
    speed = cache.get("benchmark", inputs, lambda folder: training_throughput(
        {name: Config.from_dict(c) for name, c in inputs["equal_depth"].items()}),
        "the report measures it when it is missing").metrics
    return {name: {"entry": trained(name), **speed[name]} for name in EQUAL_DEPTH}


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
    """Training throughput and useful arithmetic rate of Q1's architecture (shifted and masked kernels)
    and of the course's gated model, measured side by side."""
    return pd.DataFrame([{"model": name, "images/s": speed["training"][name]["images_per_second"],
                          "useful GFLOP/s": speed["training"][name]["useful_gflops"]}
                         for name in ("q1", "q1 (masked kernels)", "gated (course)")])


def minutes_per_step(pair: dict) -> dict[str, float]:
    """Minutes one training step of each run takes at its side-by-side throughput."""
    return {name: config(name).batch_size / v["images_per_second"] / 60 for name, v in pair.items()}


def curves(pair: dict) -> dict[str, pd.DataFrame]:
    """Each run's logged metrics (train bits/dim per logged step; validation at the end)."""
    return {name: pd.read_csv(v["entry"].path("metrics.csv")) for name, v in pair.items()}


def at_equal_time(pair: dict, smooth: int = 3) -> dict:
    """When the faster run of the pair ends (minutes at side-by-side throughput), each run's smoothed training
    NLL at that time: the comparison at equal wall-clock time."""
    minutes, logged = minutes_per_step(pair), curves(pair)
    end = min(config(name).max_steps * minutes[name] for name in pair)
    values = {}
    for name, metrics in logged.items():
        train = metrics.dropna(subset=["train_bpd"]).set_index("step")["train_bpd"]
        train = train.ewm(span=smooth).mean()
        values[name] = float(train[train.index * minutes[name] <= end + 1e-9].iloc[-1])
    return {"minutes": end, "train_bpd": values}
