"""Figures of Q3's MCMC chains: log p traces, the tiny-model check, the last states of the (g) chains."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .plots import PALETTE, completions


def log_p_traces(panels: dict[str, tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]], starts: tuple[str, ...]):
    """MCMC traces: ``panels`` maps a row title to (log2 p per sweep [S+1, N, starts, chains], the test
    images' log2 p [N], their test-set indices); one panel per conditioning image, chains coloured by where
    they started (sweep 0: the starting state)."""
    n = max(t.shape[1] for t, *_ in panels.values())
    fig, axes = plt.subplots(len(panels), n, figsize=(2.6 * n + 0.6, 2.4 * len(panels) + 0.6), squeeze=False,
                             layout="constrained", sharex=True)
    for row, (title, (trace, truth, indices)) in zip(axes, panels.items(), strict=True):
        for k, ax in enumerate(row):
            if k >= trace.shape[1]:
                ax.set_axis_off()
                continue
            for s, color in zip(range(trace.shape[2]), PALETTE, strict=False):
                ax.plot(trace[:, k, s].numpy(), color=color, lw=1, alpha=0.8,
                        label=[f"from {starts[s]} starts"] + [None] * (trace.shape[3] - 1))
            ax.axhline(truth[k].item(), color="black", ls=":", lw=1.2, label="the test image")
            ax.set_title(f"{title}, test #{indices[k]}", fontsize="small")
            ax.set_xlabel("sweep")
        row[0].set_ylabel("log2 p(x) (bits)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize="small", frameon=False)
    return fig


TINY_MCMC_PANELS = {
    "(d) middle pixel\ngiven later pixels": {
        "d_is_prior": "IS, prior prefixes", "d_is_reverse": "IS, reverse proposals",
        "d_mcmc_rao_blackwell": "MCMC (reverse starts), full conditionals",
        "d_mcmc_prior_start": "MCMC (prior starts), full conditionals",
        "d_mcmc_counting": "MCMC (reverse starts), counting", "d_reverse": "reverse model alone"},
    "(g) top half\ngiven bottom half": {
        "g_sir_prior": "SIR, prior proposals", "g_is_reverse": "IS, reverse proposals",
        "g_mcmc": "MCMC (reverse starts)", "g_mcmc_prior_start": "MCMC (prior starts)",
        "g_reverse": "reverse model alone"},
}


def tiny_mcmc(check) -> plt.Figure:
    """Error of every (d) and (g) method on the tiny 4x4 model against the same budget of passes (log-log),
    averaged over the conditioning images; the reverse model alone is a dashed line."""
    budgets = check.budgets.numpy()
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 4.8), sharey=True, layout="constrained")
    for ax, (title, lines) in zip(axes, TINY_MCMC_PANELS.items(), strict=True):
        for (key, label), color in zip(lines.items(), PALETTE, strict=False):
            values = getattr(check, key).double()
            if values.ndim == 1:  # one error per image: no sampling
                ax.axhline(values.mean().item(), ls="--", color=color, label=label)
            else:
                ax.plot(budgets, values.mean(0).numpy(), marker="o", color=color, label=label,
                        ls=":" if "counting" in key or "prior_start" in key else "-")
        ax.set(xscale="log", yscale="log", xlabel="forward passes (one image each)")
        ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    axes[0].set_ylabel("total-variation error")
    return fig


def g_completions(images: torch.Tensor, methods: dict[str, torch.Tensor], rows: tuple[tuple[str, ...], ...],
                  known_rows: int = 14) -> plt.Figure:
    """(g) completions side by side, one row of panels per tuple of ``rows``, one panel per method name in it:
    ``methods`` maps a name ("MCMC from ... starts", "SIR, ...", "SMC tempering, ...") to its completions of
    each conditioning image [N, K, 1, H, W]."""
    widths = [[methods[name].shape[1] + 1 for name in row] for row in rows]
    width = max(sum(w) for w in widths)
    fig = plt.figure(figsize=(0.5 * width + 1, (0.5 * len(images) + 0.6) * len(rows)), layout="constrained")
    for subfig, row, w in zip(fig.subfigures(len(rows), 1), rows, widths, strict=True):
        axes = subfig.subplots(1, len(row) + 1, gridspec_kw={"width_ratios": [*w, width - sum(w) + 1e-3]})
        axes[-1].set_axis_off()  # the room a shorter row leaves, so that every panel has the same scale
        for ax, name in zip(axes, row, strict=False):
            samples = methods[name]
            title = name.replace("MCMC from ", "MCMC:\n").replace("SIR, ", "SIR:\n").replace("tempering, ",
                                                                                              "tempering:\n")
            completions(images, samples.reshape(-1, *samples.shape[2:]), samples.shape[1], known_rows, "bottom",
                        title, ax=ax)
    return fig


def tempering_moves(panels: dict[str, dict[str, list[tuple[torch.Tensor, torch.Tensor]]]]) -> plt.Figure:
    """How a tempering run's moves behave as the temperature rises: ``panels`` maps a panel title (a measure) to
    ``TemperingFindings.kind_traces``, one line per run and image, coloured by the kind of move."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.9), layout="constrained", sharex=True)
    for ax, (title, traces) in zip(axes, panels.items(), strict=True):
        for (kind, lines), color, marker in zip(traces.items(), PALETTE[::2], ".s^v", strict=False):
            for i, (beta, value) in enumerate(lines):
                ax.plot(beta.numpy(), value.numpy(), color=color, lw=1, alpha=0.7, marker=marker, ms=3,
                        label=kind if i == 0 else None)
        ax.set(xlabel="temperature β of the step (log scale)", xscale="log", ylim=(0, 1.5))
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(title, fontsize="medium")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize="small", frameon=False)
    return fig
