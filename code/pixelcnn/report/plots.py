"""Figures of the report, all in one seaborn style set here."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.patches import Rectangle

PALETTE = sns.color_palette("colorblind")


def use_style() -> None:
    """The one plotting style of the report (legible in HTML and in the PDF)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95,
                  rc={"figure.dpi": 110, "savefig.dpi": 150, "axes.titleweight": "bold", "image.cmap": "gray"})


def format_cell(value, floatfmt: str = ".3f") -> str:
    """One table cell as text: integers as integers, floats with ``floatfmt``, missing values as "–"."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        return format(value, floatfmt)
    return str(value)


def table(frame: pd.DataFrame, floatfmt: str = ".3f", formats: dict[str, str] | None = None):
    """A DataFrame as a Markdown table (native in every output format), each column formatted on its
    own: ``formats[column]`` or ``floatfmt`` for floats, integers as integers, missing values as "–";
    numbers right-aligned."""
    from IPython.display import Markdown

    formats = formats or {}
    shown = pd.DataFrame({name: [format_cell(v, formats.get(name, floatfmt)) for v in column]
                          for name, column in frame.items()})
    align = ["right" if pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c) else "left"
             for _, c in frame.items()]
    return Markdown(shown.to_markdown(index=False, disable_numparse=True, colalign=align))


def training_curves(runs: dict[str, tuple[pd.DataFrame, float]], ax=None, smooth: int = 25,
                    minutes_per_step: dict[str, float] | None = None):
    """Training NLL (the batch logged every few steps, raw and as an exponential moving average) and
    validation NLL per epoch, the test value marked.

    ``runs`` maps a label to (the run's metrics CSV as a DataFrame, its test bits/dim). ``smooth`` is
    the EMA's span in logged points (bias-corrected, so its start is the first losses, not an average
    that drags them along). With ``minutes_per_step`` (per label) the x axis is training time.
    """
    ax = ax or plt.subplots(figsize=(9, 3.6), layout="constrained")[1]
    for (label, (metrics, test_bpd)), color in zip(runs.items(), PALETTE, strict=False):
        scale = minutes_per_step[label] if minutes_per_step else 1
        train = metrics.dropna(subset=["train_bpd"])
        ax.plot(train["step"] * scale, train["train_bpd"], color=color, alpha=0.25, lw=0.8)
        every = int(train["step"].diff().median()) if len(train) > 1 else 1
        ax.plot(train["step"] * scale, train["train_bpd"].ewm(span=smooth).mean(), color=color,
                lw=1.6, label=f"{label}: train (a batch every {every} steps, EMA)")
        if "val_bpd" in metrics:  # runs shorter than an epoch log no validation NLL
            val = metrics.dropna(subset=["val_bpd"])
            ax.plot(val["step"] * scale, val["val_bpd"], "o--", color=color, ms=5,
                    label=f"{label}: validation (per epoch)")
        ax.axhline(test_bpd, color=color, ls=":", lw=1.4, label=f"{label}: test {test_bpd:.3f}")
    ax.set(xlabel="training minutes" if minutes_per_step else "training step", ylabel="NLL (bits/dim)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the curves
    return ax


def gradient_norms(metrics: pd.DataFrame, clip: float, ax=None, smooth: int = 25):
    """The gradient's norm before clipping of a run's logged ``metrics`` (the batch logged every few steps, raw and
    as an exponential moving average) on a log scale, and the clipping threshold ``clip``."""
    ax = ax or plt.subplots(figsize=(9, 2.8), layout="constrained")[1]
    norms = metrics.dropna(subset=["grad_norm"])
    ax.plot(norms["step"], norms["grad_norm"], color=PALETTE[0], alpha=0.25, lw=0.8)
    ax.plot(norms["step"], norms["grad_norm"].ewm(span=smooth).mean(), color=PALETTE[0], lw=1.6,
            label="norm before clipping (EMA)")
    ax.axhline(clip, color=PALETTE[3], ls="--", lw=1.2, label=f"clipping threshold ({clip:g})")
    ax.set(yscale="log", xlabel="training step", ylabel="gradient norm")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def batch_curves(frame: pd.DataFrame):
    """The batch study's training NLL against training images, a panel per batch size and a line per peak
    learning rate; ``frame`` is ``q1.batch_curves``."""
    grid = sns.relplot(frame, x="training images", y="NLL (bits/dim)", col="batch", hue="peak lr", kind="line",
                       height=3.2, aspect=1.3, palette=PALETTE[:frame["peak lr"].nunique()])
    grid.set_titles("{col_name}")
    grid.set(ylim=(None, 1.8))  # the first batches (above 3 bits/dim) would hide where the runs end
    return grid


def image_grid(images: torch.Tensor, ncol: int = 8, ax=None, title: str | None = None, levels: int = 256,
               known_rows: int | None = None, known_from: str = "top"):
    """A grid of integer images; ``known_rows`` outlines the given region of each (for completions)."""
    images = images.detach().cpu().float() / (levels - 1)
    n, _, h, w = images.shape
    nrow = int(np.ceil(n / ncol))
    ax = ax or plt.subplots(figsize=(1.0 * ncol, 1.0 * nrow))[1]
    pad = 2
    canvas = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad))
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top:top + h, left:left + w] = images[i, 0].numpy()
        if known_rows:
            y = top - 0.5 if known_from == "top" else top + h - known_rows - 0.5
            ax.add_patch(Rectangle((left - 0.5, y), w, known_rows, fill=False, ec=PALETTE[1], lw=1.2))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def dependency_maps(maps: dict[str, torch.Tensor], pixel: tuple[int, int]):
    """Which input pixels move the output at ``pixel``: one heat map per model (log10 |gradient|), one
    colour scale for all; the pixel is framed (the frame surrounds it, so its own colour stays visible)."""
    logs = {label: np.where(g.abs().numpy() > 0, np.log10(np.maximum(g.abs().numpy(), 1e-30)), np.nan)
            for label, g in maps.items()}
    low, high = np.nanmin([np.nanmin(v) for v in logs.values()]), np.nanmax([np.nanmax(v) for v in logs.values()])
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps) + 0.8, 3.4), squeeze=False, layout="constrained")
    for ax, (label, shown) in zip(axes[0], logs.items(), strict=True):
        ax.imshow(np.ones_like(shown), cmap="gray_r", vmin=0, vmax=5)  # light grey: exactly no dependence
        im = ax.imshow(shown, cmap="viridis", vmin=low, vmax=high)
        ax.add_patch(Rectangle((pixel[1] - 1.5, pixel[0] - 1.5), 3, 3, fill=False, ec="red", lw=1.2))
        ax.set_title(label, fontsize="medium")
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, pad=0.02, label="log10 |∂ output / ∂ input|")
    return fig


def distribution(ax, probs: torch.Tensor, label: str, color, stderr: torch.Tensor | None = None,
                 style: str = "-") -> None:
    """A distribution over grey levels 0..L-1 on a log scale, with a ±2 standard error band."""
    values = np.arange(len(probs))
    p = probs.double().numpy()
    ax.plot(values, np.maximum(p, 1e-12), style, color=color, lw=1.4, label=label, drawstyle="steps-mid")
    if stderr is not None:
        s = stderr.double().numpy()
        lower = p - 2 * s  # where it is not positive the band has no lower edge on a log axis: not drawn there
        ax.fill_between(values, np.where(lower > 0, lower, p), p + 2 * s, where=lower > 0, color=color, alpha=0.25,
                        step="mid", interpolate=False)
    ax.set_yscale("log")
    ax.set_xlim(-2, len(probs) + 1)
    ax.set(xlabel="grey level", ylabel="probability")


def marginals(first: torch.Tensor, middle: torch.Tensor, middle_stderr: torch.Tensor,
              empirical_first: torch.Tensor, empirical_middle: torch.Tensor):
    """Q3 (a) and (b): model marginals next to the test-set histograms."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, model_p, err, emp, title in ((axes[0], first, None, empirical_first, "(a) first pixel (0, 0)"),
                                         (axes[1], middle, middle_stderr, empirical_middle,
                                          "(b) middle pixel (14, 14)")):
        distribution(ax, emp.double() / emp.sum(), "test-set histogram", PALETTE[7], style="--")
        distribution(ax, model_p, "model" + (" (Monte Carlo, ±2 s.e.)" if err is not None else " (exact)"),
                     PALETTE[0], stderr=err)
        ax.set_ylim(1e-7, 1.5)
        ax.set_title(title)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def conditionals(images: torch.Tensor, curves: dict[str, torch.Tensor], pixel: tuple[int, int]):
    """Q3 (c)-(e): for each conditioning image, its distributions of the middle pixel, true value marked."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.3 * n + 0.5), gridspec_kw={"width_ratios": [1, 5]}, squeeze=False,
                             layout="constrained")
    for k in range(n):
        axes[k, 0].imshow(images[k, 0], cmap="gray", vmin=0, vmax=255)
        axes[k, 0].add_patch(Rectangle((pixel[1] - 0.5, pixel[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        axes[k, 0].set_axis_off()
        ax = axes[k, 1]
        for (label, probs), color in zip(curves.items(), PALETTE, strict=False):
            distribution(ax, probs[k], label, color)
        ax.axvline(int(images[k, 0, pixel[0], pixel[1]]), color="red", ls=":", lw=1.2, label="true value")
        ax.set_ylim(1e-8, 1.5)
        if k < n - 1:
            ax.set_xlabel("")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize="small", frameon=False)
    return fig


def completions(images: torch.Tensor, samples: torch.Tensor, per: int, known_rows: int, known_from: str, title: str,
                ax=None):
    """Q3 (f)/(g): each conditioning image [N, 1, H, W] followed by its ``per`` sampled completions (image-major,
    [N * per, 1, H, W]), the given half outlined."""
    n = len(images)
    rows = torch.cat([torch.cat([images[k:k + 1], samples[k * per:(k + 1) * per]]) for k in range(n)])
    ax = image_grid(rows, ncol=per + 1, known_rows=known_rows, known_from=known_from, ax=ax)
    ax.set_title(title, fontsize="medium")
    return ax


def completion_panels(images: torch.Tensor, panels: dict[str, tuple[torch.Tensor, str]], per: int,
                      known_rows: int = 14):
    """Side-by-side ``completions`` panels of ``per`` completions an image: title -> (samples, which half was
    given: "top" or "bottom")."""
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * 0.75 * (per + 1) + 1, 0.8 * len(images) + 0.8))
    for ax, (title, (samples, given)) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        completions(images, samples, per, known_rows, given, title, ax=ax)
    fig.tight_layout()
    return fig


CONVERGENCE_PANELS = {
    "(b) marginal of\nthe middle pixel": {"b": "Monte Carlo, prior prefixes"},
    "(d) middle pixel\ngiven later pixels": {"d": "IS, prior prefixes", "d_reverse_is": "IS, reverse-model proposals",
                                          "d_reverse": "reverse model alone"},
    "(g) top half\ngiven bottom half": {"g": "SIR, prior proposals", "g_reverse_is": "SIR, reverse-model proposals",
                                       "g_gibbs": "Gibbs, n sweeps", "g_reverse": "reverse model alone"},
}


def convergence(result):
    """Error of each approximation against the exact answer as its budget grows (log-log), per quantity.

    Sampling methods are lines over the budget; a method without sampling (the reverse model's own
    answer) is a dashed horizontal line. ``result``: ``q3.validation.Convergence``.
    """
    budgets = result.budgets.numpy()
    fig, axes = plt.subplots(1, len(CONVERGENCE_PANELS), figsize=(8.5, 4.8), sharey=True, layout="constrained")
    for ax, (title, lines) in zip(axes, CONVERGENCE_PANELS.items(), strict=True):
        for key, label in lines.items():  # one colour per kind of method across the panels
            color = PALETTE[{"reverse_is": 1, "gibbs": 2, "reverse": 3}.get(key.partition("_")[2], 0)]
            values = getattr(result, key).double().numpy()
            if values.ndim == 0:
                ax.axhline(max(float(values), 1e-6), ls="--", color=color, label=label)
            else:
                ax.plot(budgets, values, "o-", color=color, label=label)
        first = getattr(result, next(iter(lines)))[0].item()
        ax.plot(budgets, first * np.sqrt(budgets[0] / budgets), ":", color="grey", label=r"$\propto 1/\sqrt{n}$")
        ax.set(xscale="log", yscale="log", xlabel="samples (or sweeps) n")
        ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    axes[0].set_ylabel("total-variation error")
    return fig


EXPLORED_LABELS = {"c": "(c) given the pixels before (exact)", "d": "(d) given the pixels after",
                   "e": "(e) given all other pixels (exact)"}


def explored(image: torch.Tensor, found: dict, pixel: tuple[int, int], heading: str, per: int) -> plt.Figure:
    """Q3 for one image (``explore``): the image (long [1, H, W], the pixel framed), (c)-(e) at the pixel on a
    log scale (the true value dotted), and the ``per`` completions of (f) and (g) (the given half outlined)."""
    fig = plt.figure(figsize=(10, 4.3), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.55, 1])
    ax_image, ax_p = top.subplots(1, 2, width_ratios=[1, 4.5])
    ax_image.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=255)
    ax_image.add_patch(Rectangle((pixel[1] - 0.5, pixel[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    ax_image.set_axis_off()
    for (key, label), color in zip(EXPLORED_LABELS.items(), PALETTE, strict=False):
        label = f"{label} ({found['d_method']}, ESS {found['d_ess'][0]:.1f})" if key == "d" else label
        distribution(ax_p, found[key][0], label, color)
    ax_p.axvline(int(image[0, pixel[0], pixel[1]]), color="red", ls=":", lw=1.2, label="true value")
    ax_p.set_ylim(1e-8, 1.5)
    ax_p.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    top.suptitle(heading, fontweight="bold")
    axes = bottom.subplots(1, 2)
    rows, x = image.shape[-2] // 2, image[None]
    completions(x, found["f"], per, rows, "top", "(f) bottom half given the top (exact)", ax=axes[0])
    g_title = f"(g) top half given the bottom (SIR from {found['g_pool']:,} prior tops, ESS {found['g_ess'][0]:.1f})"
    completions(x, found["g"], per, rows, "bottom", g_title, ax=axes[1])
    return fig


def png(fig: plt.Figure, dpi: int = 80) -> bytes:
    """A figure as a PNG of 256 colours (a third of the size of a full-colour one, alike to the eye); closes it."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    out = io.BytesIO()
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
