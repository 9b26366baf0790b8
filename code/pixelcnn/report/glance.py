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


def q3_figure(results: Results, explored: Explored, d_answer: torch.Tensor, d_images: tuple[int, ...],
              g_answer: torch.Tensor) -> plt.Figure:
    """Every Q3 answer at once: (a) and (b) on top; then, per named (d) image (``D_IMAGES``, ``d_images`` in
    order), the image (middle framed) and (c), (d), (e) at the middle pixel; then (f) and (g) for the conditioning
    images of ``results``.

    ``explored``: the exact (c) and (e) of the (d) images; ``d_answer``: the (d) answer per (d) image
    [len(d_images), 256]; ``g_answer``: the (g) answer's completions per image [N, n, 1, H, W]."""
    names = {index: name for name, index in D_IMAGES.items()}
    fig = plt.figure(figsize=(10, 3.0 + 1.9 * len(d_images) + 0.9 * len(results.images)), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[2.6, 1.9 * len(d_images), 0.9 * len(results.images)])
    for ax, p, err, label, color in zip(top.subplots(1, 2), (results.a, results.b), (None, results.b_stderr),
                                        ("(a) first pixel, exact", "(b) middle pixel, Monte Carlo"), plots.PALETTE[:2],
                                        strict=True):
        plots.distribution(ax, p, label, color, stderr=err)
        ax.set_ylim(1e-8, 1.5)
        ax.legend(fontsize="small", frameon=False, loc="upper right")
    grid = middle.subplots(len(d_images), 2, width_ratios=[1, 6], squeeze=False)
    for row, index in zip(grid, d_images, strict=True):
        k = explored.indices.tolist().index(index)
        image = explored.images[k]
        row[0].imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
        row[0].add_patch(Rectangle((MIDDLE[1] - 0.5, MIDDLE[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        row[0].set_title(f"#{index}, {names.get(index, '')}", fontsize="small")
        row[0].set_axis_off()
        curves = {"(c) given before, exact": explored.c[k],
                  "(d) given after, our answer": d_answer[d_images.index(index)],
                  "(e) given all others, exact": explored.e[k]}
        for (label, p), color in zip(curves.items(), plots.PALETTE, strict=False):
            plots.distribution(row[1], p, label, color)
        row[1].axvline(int(image[0, MIDDLE[0], MIDDLE[1]]), color="red", ls=":", lw=1.2, label="true value")
        row[1].set_ylim(1e-8, 1.5)
    grid[0][1].legend(fontsize="x-small", frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
    n, rows = g_answer.shape[1], HALF // results.images.shape[-1]
    left, right = bottom.subplots(1, 2)
    plots.completions(results.images, results.f, results.inputs["budget"]["completions"], rows, "top",
                      "(f) bottom half given the top, exact", ax=left)
    plots.completions(results.images, g_answer.flatten(0, 1), n, rows, "bottom",
                      "(g) top half given the bottom, our answer", ax=right)
    return fig
