"""Q1: the tables of chapter 1, from the cached runs and the side-by-side benchmark."""

from __future__ import annotations

import pandas as pd

from .config import Config
from .runs import SEARCH, config, trained


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
                     "first kernel": c.first_kernel_size, "residual": c.residual, "parameters": metrics["parameters"],
                     "images/s": speed["training"][name]["images_per_second"], "val bits/dim": metrics["val_bpd"],
                     "rows seen above": rows_seen_above(c)})
    return pd.DataFrame(rows).set_index("run", drop=False)


def cost_table(speed: dict) -> pd.DataFrame:
    """Training throughput and useful arithmetic rate of Q1's architecture (shifted and masked kernels)
    and of the course's gated model, measured side by side."""
    return pd.DataFrame([{"model": name, "images/s": speed["training"][name]["images_per_second"],
                          "useful GFLOP/s": speed["training"][name]["useful_gflops"]}
                         for name in ("q1", "q1 (masked kernels)", "gated (course)")])
