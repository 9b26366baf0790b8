"""The values chapter 1 quotes, formatted (``study.prose.Prose``): the answer (``answer``) and each study
(``search``, ``batch``, ``training``, ``cost``, ``depth``), from the findings whose claims are checked.
"""

from __future__ import annotations

from ..core.models import count_parameters
from ..study.prose import Prose, words
from ..study.runs import SEARCH_STEPS, config, load
from .gates import CostFindings, EqualDepthFindings
from .search import BatchFindings, SearchFindings
from .training_runs import TrainingFindings, rises


def answer(training: TrainingFindings) -> Prose:
    """The Q1 model: its configuration, its recipe and its result against the course model."""
    q1, c = training.q1, training.q1["config"]
    return Prose(
        layers=str(c.layers),
        channels=str(c.channels),
        kernel=str(c.kernel_size),
        first_kernel=str(c.first_kernel_size),
        parameters=f"{count_parameters(load('q1')):,}",
        batch=str(c.batch_size),
        lr=f"{c.lr:g}",
        warmup=f"{c.warmup_steps:,}",
        steps=f"{q1['steps']:,}",
        epochs=f"{q1['epochs']:.0f}",
        clip=f"{c.grad_clip:g}",
        weight_decay=f"{c.weight_decay:g}",
        test_bpd=f"{q1['test_bpd']:.3f}",
        val_bpd=f"{q1['val_bpd']:.3f}",
        course_bpd=f"{training.course_test_bpd:.3f}",
        course_gap=f"{q1['test_bpd'] - training.course_test_bpd:.3f}",
        minutes=f"{q1['train_seconds'] / 60:.0f}",
        images_per_second=f"{q1['images_per_second']:.0f}",
        device="CPU-only" if q1["device"] == "cpu" else q1["device"],
    )


def search(s: SearchFindings) -> Prose:
    """The configuration search."""
    base, table = config("search-base"), s.table
    by_seed = s.seeds.set_index("run")
    first_seed = by_seed[by_seed.columns[0]]  # the first seed's validation NLL per configuration
    return Prose(
        weight_decay=f"{base.weight_decay:g}",
        lr=f"{base.lr:g}",
        warmup=str(base.warmup_steps),
        steps=str(s.steps),
        batch=str(s.batch_size),
        seed_count=str(s.seed_count),
        noise=f"{s.noise:.3f}",
        noisiest=s.noisiest,
        base_bpd=f"{table.loc['search-base', 'val bits/dim']:.3f}",
        base_rows=str(table.loc["search-base", "rows seen above"]),
        beyond=words(s.beyond),
        within=words(s.within),
        best=s.best,
        best_bpd=f"{table.loc[s.best, 'val bits/dim']:.3f}",
        gap=f"{s.gap:.3f}",
        close=words(s.close),
        first_seed=by_seed.columns[0],
        first_seed_best=str(first_seed.idxmin()),
        first_seed_gap=f"{first_seed[s.chosen] - first_seed.min():.3f}",
        **{f"{name}_rate": f"{table.loc[f'search-{name}', 'images/s']:.0f}" for name in ("wide", "deep", "kernel5")},
        **{f"{name}_rows": str(table.loc[f"search-{name}", "rows seen above"]) for name in ("wide", "deep", "kernel5")},
    )


def batch(b: BatchFindings) -> Prose:
    """The batch-size and learning-rate study."""
    return Prose(
        images=f"{b.images:,}",
        small=str(b.table["batch"].min()),
        large=str(b.table["batch"].max()),
        warmup_share=f"{b.warmup_share:.1%}",
        noise=f"{b.noise:.3f}",
        gap_low=f"{b.batch_gaps.min():.3f}",
        gap_high=f"{b.batch_gaps.max():.3f}",
        rate_gain_low=f"{b.rate_gains.min().min():.3f}",
        rate_gain_high=f"{b.rate_gains.max().max():.3f}",
        best_rate=f"{b.grid.columns.max():g}",
        search_lr=f"{config('search-deep').lr:g}",
        short_warmup_bpd=f"{b.warmup[1]:.3f}",
        long_warmup_bpd=f"{b.warmup[0]:.3f}",
        largest_jump=f"{b.largest_jump:.2f}",
        long_epochs=f"{config('q1-long').epochs:.0f}",
    )


def training(t: TrainingFindings, b: BatchFindings) -> Prose:
    """The training runs of the chosen configuration and their guards."""
    second, long, q1 = t.q1_batch32, t.q1_long, t.q1
    curves = q1["curves"]
    clipped = curves.epochs_above(q1["config"].grad_clip)
    return Prose(
        first_epochs=f"{t.q1_first['epochs']:.0f}",
        first_bpd=f"{t.q1_first['test_bpd']:.3f}",
        second_lr=f"{second['config'].lr:g}",
        second_epochs=f"{second['epochs']:.0f}",
        second_jump=f"{second['curves'].spike[1]:.2f}",
        second_jump_step=f"{second['curves'].spike[0]:,}",
        second_rise=f"{second['curves'].rise[2] - second['curves'].rise[1]:.3f}",
        second_tail=f"{100 * second['curves'].tail_share:.0f}",
        long_lr=f"{long['config'].lr:g}",
        long_epochs=f"{long['epochs']:.0f}",
        long_jump=f"{long['curves'].spike[1]:.2f}",
        long_jump_step=f"{long['curves'].spike[0]:,}",
        long_jump_rate=f"{long['curves'].spike_rate:.0%}",
        second_jump_rate=f"{second['curves'].spike_rate:.0%}",
        long_jump_images=f"{long['curves'].spike[0] * long['config'].batch_size:,}",
        study_images=f"{b.images:,}",
        long_bpd=f"{long['test_bpd']:.3f}",
        second_bpd=f"{second['test_bpd']:.3f}",
        q1_lr=f"{q1['config'].lr:g}",
        clip=f"{q1['config'].grad_clip:g}",
        q1_jump=f"{curves.spike[1]:.2f}",
        q1_rises=str(rises(curves)),
        q1_rise=f"{curves.rise[2] - curves.rise[1]:.3f}",
        norm_low=f"{min(curves.norm_by_epoch):.2f}",
        norm_high=f"{max(curves.norm_by_epoch):.1f}",
        norm_last=f"{curves.norm_by_epoch[-1]:.2f}",
        clipped_from=str(clipped[0]),
        clipped_to=str(clipped[-1]),
        clipped_share=f"{100 * curves.clipped_share:.0f}",
        batch32_rate=f"{t.batch_rates['q1']:.0f}",
        batch128_rate=f"{t.batch_rates['q1-first']:.0f}",
        batch_ratio_low=f"{t.batch_ratio[0]:.2f}",
        batch_ratio_high=f"{t.batch_ratio[1]:.2f}",
    )


def cost(c: CostFindings, speed: dict) -> Prose:
    """What the simplification buys: throughput against the course's gated model, shifted against masked kernels
    (the ratios of the medians that the cost table shows, and the range of the ratios over the rounds)."""
    rate = {name: v["images_per_second"] for name, v in speed["training"].items()}
    return Prose(
        gated_median=f"{rate['q1-first'] / rate['gated (course)']:.2f}",
        shifted_median=f"{rate['q1-first'] / rate['q1 (masked kernels)']:.2f}",
        same_low=f"{c.same_architecture[1]:.2f}",
        same_high=f"{c.same_architecture[2]:.2f}",
        gated_low=f"{c.simple_vs_gated[1]:.2f}",
        gated_high=f"{c.simple_vs_gated[2]:.2f}",
        shifted_low=f"{c.shifted_vs_masked[1]:.2f}",
        shifted_high=f"{c.shifted_vs_masked[2]:.2f}",
        matmul=f"{c.matmul_bf16:.0f}",
    )


def depth(d: EqualDepthFindings, s: SearchFindings) -> Prose:
    """Gates at equal depth."""
    simple, gated, stretched = (config(name) for name in ("depth7-simple", "depth7-gated", "depth7-simple-equal-time"))
    return Prose(
        layers=str(config("q1").layers),
        channels=str(simple.channels),
        steps=str(simple.max_steps),
        seed_count=str(d.seed_count),
        simple_kernel=str(d.first_kernels["depth7-simple"]),
        gated_kernel=str(d.first_kernels["depth7-gated"]),
        stretched_steps=str(stretched.max_steps),
        gated_steps=str(gated.max_steps),
        batch=str(gated.batch_size),
        equal_time_low=f"{d.speedup_range[0] * SEARCH_STEPS:.0f}",
        equal_time_high=f"{d.speedup_range[1] * SEARCH_STEPS:.0f}",
        own_noise=f"{d.own_noise:.3f}",
        search_noise=f"{s.noise:.3f}",
        noise=f"{d.noise:.3f}",
        step_gap=f"{abs(d.step_gap):.3f}",
        step_side="above" if d.step_gap > 0 else "below",
        param_ratio=f"{d.param_ratio:.1f}",
        speedup=f"{d.speedup:.1f}",
        gated_minutes=f"{d.table.loc['depth7-gated', 'minutes']:.1f}",
        time_gap=f"{d.time_gap:.3f}",
    )
