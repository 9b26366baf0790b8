"""Q3's leaf helpers for tables and prose: how many samples differ, a cell of values over seeds, a range in words."""

from __future__ import annotations

import torch


def distinct(samples: torch.Tensor, per_image: int) -> list[int]:
    """How many different images there are among each conditioning image's ``per_image`` samples."""
    return [len(torch.unique(s.flatten(1), dim=0)) for s in samples.split(per_image)]


def spread_cell(v: torch.Tensor) -> str:
    """A table cell of values over seeds or pools: "mean (smallest to largest)", in whole bits (one value alone)."""
    if v.numel() == 1:
        return f"{float(v):.0f}"
    return f"{float(v.mean()):.0f} ({float(v.min()):.0f} to {float(v.max()):.0f})"


def range_text(values: torch.Tensor, fmt: str = "d") -> str:
    """The smallest and the largest of ``values`` as prose: "a to b", or "a" when they are equal."""
    low, high = (format(int(v) if fmt == "d" else float(v), fmt) for v in (values.min(), values.max()))
    return low if low == high else f"{low} to {high}"
