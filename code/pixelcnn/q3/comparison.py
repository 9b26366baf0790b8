"""Q3's first methods side by side (``quantities``, ``importance``): the (d) and (g) estimators with the prior's
and the reverse model's proposals, the held-out check of the exact conditionals, and the forward model's view of
the (g) completions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..core import diagnostics
from .formatting import distinct
from .setting import MIDDLE_INDEX

if TYPE_CHECKING:
    from .importance import ReverseResults
    from .quantities import Heldout, Results


def comparison_table(r: Results, rr: ReverseResults) -> pd.DataFrame:
    """The methods for (d) and (g) side by side, one column per conditioning image."""
    rows, true = torch.arange(len(r.images)), r.images.flatten(1)[:, MIDDLE_INDEX]
    q3, proposals = r.inputs["budget"], rr.inputs["proposals"]
    n = q3["completions"]
    measures = [  # (what, values per image, format)
        (f"(d) ESS, prior prefixes (of {q3['later_prefixes']})", r.d_ess.tolist(), ".1f"),
        (f"(d) ESS, reverse proposals (of {proposals})", rr.d_reverse_is_ess.tolist(), ".1f"),
        ("(d) p(true value), IS with prior prefixes", r.d[rows, true].tolist(), ".3f"),
        ("(d) p(true value), reverse model alone", rr.d_reverse[rows, true].tolist(), ".3f"),
        ("(d) p(true value), IS with reverse proposals", rr.d_reverse_is[rows, true].tolist(), ".3f"),
        ("(d) total variation: IS prior vs IS reverse", diagnostics.total_variation(r.d, rr.d_reverse_is).tolist(),
         ".3f"),
        ("(d) total variation: reverse alone vs IS reverse",
         diagnostics.total_variation(rr.d_reverse, rr.d_reverse_is).tolist(), ".3f"),
        (f"(g) ESS, prior proposals (of {q3['top_proposals']})", r.g_ess.tolist(), ".1f"),
        (f"(g) ESS, reverse proposals (of {proposals})", rr.g_reverse_is_ess.tolist(), ".1f"),
        (f"(g) distinct completions of {n}, SIR with prior proposals", distinct(r.g, n), "d"),
        (f"(g) distinct completions of {n}, reverse model alone", distinct(rr.g_reverse, n), "d"),
        (f"(g) distinct completions of {n}, SIR with reverse proposals", distinct(rr.g_reverse_is, n), "d"),
    ]
    return pd.DataFrame([{"measure": what, **{f"image #{k}": format(v, fmt) for k, v in enumerate(values)}}
                         for what, values, fmt in measures])


def heldout_table(h: Heldout) -> pd.DataFrame:
    """Mean bits and mean probability of the true middle value under each distribution."""
    labels = {"marginal": "marginal (test-set histogram)", "c": "(c) given the pixels before",
              "e": "(e) given all others"}
    return pd.DataFrame([{"distribution": label, "bits of the true value": -getattr(h, key).log2().mean().item(),
                          "mean probability of the true value": getattr(h, key).mean().item()}
                         for key, label in labels.items()])


def completion_nll_table(rr: ReverseResults) -> pd.DataFrame:
    """The forward model's bits/dim of the test images and of each method's (g) completions."""
    labels = {"original": "test images themselves", "g": "SIR, prior proposals", "g_reverse": "reverse model alone",
              "g_reverse_is": "SIR, reverse-model proposals"}
    return pd.DataFrame([{"images": label, "forward NLL (bits/dim)": rr.forward_bpd[key]}
                         for key, label in labels.items()])


def largest_ess(r3: Results, rr: ReverseResults) -> float:
    """The largest effective sample size of any importance sampler of (d) and (g) on MNIST."""
    return torch.cat([r3.d_ess, rr.d_reverse_is_ess, r3.g_ess, rr.g_reverse_is_ess]).max().item()
