"""The answers at a glance: the values of the report's opening table (``glance``) and its one Q3 figure
(``q3_figure``), every item's final answer side by side for the named (d) conditioning images.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from ..q3.answer_d import DFindings
from ..q3.answer_g import GFindings
from ..q3.explorer import Explored
from ..q3.mcmc_reading import THRESHOLD
from ..q3.quantities import Results
from ..q3.setting import D_IMAGES, HALF, MIDDLE
from ..study.prose import Prose
from . import plots


def glance(q1_answer: Prose, q2_answer: Prose, results: Results, d: DFindings, g: GFindings,
           marginal_prefixes: int) -> Prose:
    """The values of the answers-at-a-glance table: Q1's and Q2's results and each Q3 item's."""
    answer = d.reference()
    black, stroke, edge = (answer[d.position(name)] for name in ("black", "stroke", "edge"))
    return Prose(
        q1_test_bpd=q1_answer.test_bpd, q1_course_bpd=q1_answer.course_bpd, q2_test_bpd=q2_answer.test_bpd,
        q2_black=q2_answer.black, a_black=f"{float(results.a[0]):.3f}", b_black=f"{float(results.b[0]):.2f}",
        b_prefixes=f"{marginal_prefixes:,}", d_black=f"{float(black[0]):.2f}", d_stroke=str(int(stroke.argmax())),
        d_stroke_p=f"{float(stroke.max()):.2f}", d_edge=f"{float(edge[0]):.2f}", g_pool=f"{g.pool:,}",
        g_completions=str(g.completions), rhat_threshold=str(THRESHOLD))


def q3_figure(results: Results, explored: Explored, d_answer: torch.Tensor, images: tuple[int, ...]) -> plt.Figure:
    """Every Q3 answer at once: (a) and (b) on top; then per named (d) image (``D_IMAGES``, in ``images`` order):
    the image (middle framed), (c), (d) and (e) at the middle pixel, and completions of (f) and (g).

    ``explored``: the exact (c), (e), (f) and (g) by the answer's method for these images; ``d_answer``: the (d)
    answer per image [len(images), 256]."""
    names = {index: name for name, index in D_IMAGES.items()}
    n = explored.inputs["budget"]["completions"]
    fig = plt.figure(figsize=(11, 2.2 + 2.0 * len(images)), layout="constrained")
    top, rows = fig.subfigures(2, 1, height_ratios=[1.1, 2.0 * len(images) / 2.2])
    ax_a, ax_b = top.subplots(1, 2)
    plots.distribution(ax_a, results.a, "(a) first pixel, exact", plots.PALETTE[0])
    plots.distribution(ax_b, results.b, "(b) middle pixel, Monte Carlo", plots.PALETTE[1], stderr=results.b_stderr)
    for ax in (ax_a, ax_b):
        ax.set_ylim(1e-8, 1.5)
        ax.legend(fontsize="small", frameon=False, loc="upper right")
    grid = rows.subplots(len(images), 4, width_ratios=[1, 3.2, 2.4, 2.4])
    for row, index in zip(grid, images, strict=True):
        k = explored.indices.tolist().index(index)
        found = explored.answers(k)
        image = explored.images[k]
        row[0].imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
        row[0].add_patch(Rectangle((MIDDLE[1] - 0.5, MIDDLE[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        row[0].set_title(f"#{index}, {names.get(index, '')}", fontsize="small")
        row[0].set_axis_off()
        curves = {"(c) before, exact": found["c"][0], "(d) after, our answer": d_answer[images.index(index)],
                  "(e) all others, exact": found["e"][0]}
        for (label, p), color in zip(curves.items(), plots.PALETTE, strict=False):
            plots.distribution(row[1], p, label, color)
        row[1].axvline(int(image[0, MIDDLE[0], MIDDLE[1]]), color="red", ls=":", lw=1.2)
        row[1].set_ylim(1e-8, 1.5)
        x = image.unsqueeze(0)
        plots.completions(x, found["f"], n, HALF // 28, "top", "(f) bottom given top", ax=row[2])
        plots.completions(x, found["g"], n, HALF // 28, "bottom", "(g) top given bottom", ax=row[3])
    grid[0][1].legend(fontsize="x-small", frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
    return fig
