"""The values chapter 2 quotes, formatted (``study.prose.Prose``), from the non-causal model's findings."""

from __future__ import annotations

from ..study.prose import Prose
from ..study.runs import config
from .noncausal import Findings


def answer(f: Findings) -> Prose:
    """The non-causal model against the causal ones: its NLL, its samples, the sums that are not one."""
    own = f.own.iloc[1]  # the Q2 model's row
    return Prose(
        batch=str(config("q2").batch_size), epochs=f"{f.q2['epochs']:.0f}",
        test_bpd=f"{f.q2['test_bpd']:.3f}", first_test_bpd=f"{f.q1_first['test_bpd']:.3f}",
        course_bpd=f"{f.course_test_bpd:.3f}", black=f"{100 * f.black:.1f}",
        tiny_above_half=str(int(f.tiny.loc["tiny-noncausal", "images above 0.5"])),
        tiny_above_tenth=str(int(f.tiny.loc["tiny-noncausal", "images above 0.1"])),
        own_sum=f"{own['sum over the 256 values']:.1f}", own_mean=f"{own['sum over the 256 values'] / 256:.2f}",
        own_above_half=str(own["terms above 0.5"]), own_above_tenth=str(own["terms above 0.1"]))
