"""Speed measured side by side in one run: training throughput and sampling, with ratios.

Everything is interleaved (round-robin over the candidates, median over rounds) so that a busy
machine slows all candidates alike. Weights do not change speed, so untrained models are used.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ..core.layers import MaskedConv
from ..core.models import bits_per_dim
from ..core.sampling import sample
from . import cache, runs
from .config import Config
from .prose import Prose


def useful_macs(model: nn.Module, height: int = 28, width: int = 28) -> int:
    """Multiply-adds of one forward pass that are not multiplied by a mask zero."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            taps = module.kernel_size[0] * module.kernel_size[1]
            total += module.in_channels * module.out_channels * taps * height * width
    for module in model.modules():  # a masked kernel's zero taps are not useful work
        if isinstance(module, MaskedConv):
            c = module.conv
            zeros = int(module.mask.numel() - module.mask.sum())
            total -= c.in_channels * c.out_channels * zeros * height * width
    return total


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = bits_per_dim(model, x).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def training_throughput(configs: dict[str, Config], images: int = 384, rounds: int = 7,
                        batch_size: int | None = None) -> dict[str, dict]:
    """Training images/second (bf16 autocast, channels_last) and useful GFLOP/s of each config, at its own
    batch size (or ``batch_size``): ``images`` images a round, the median over ``rounds`` interleaved rounds,
    each round's rate kept (``round_images_per_second``) to show the spread."""
    setups = {}
    for name, config in configs.items():
        batch = batch_size or config.batch_size
        x = torch.randint(0, 256, (batch, 1, 28, 28))
        model = config.architecture.build().to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters())
        _train_step(model, optimizer, x)  # warm-up: kernel selection, allocations
        setups[name] = (model, optimizer, x, max(1, images // batch), [])
    for _ in range(rounds):
        for model, optimizer, x, steps, rates in setups.values():
            start = time.perf_counter()
            for _ in range(steps):
                _train_step(model, optimizer, x)
            rates.append(steps * len(x) / (time.perf_counter() - start))
    results = {}
    for name, (model, _, x, _, rates) in setups.items():
        rate = statistics.median(rates)
        results[name] = {"images_per_second": rate, "round_images_per_second": rates, "batch_size": len(x),
                         "useful_gflops": 3 * 2 * useful_macs(model) * rate / 1e9}
    return results


def spread(rates: list[float]) -> float:
    """The relative spread of repeated measurements: (largest - smallest) / median."""
    return (max(rates) - min(rates)) / statistics.median(rates)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """The machine's own large-matmul GFLOP/s in fp32 and bf16."""
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        out[str(dtype).removeprefix("torch.")] = 2 * n**3 / statistics.median(times) / 1e9
    return out


def _timed(device: torch.device, f, *args, **kwargs) -> float:
    """Seconds ``f(*args, **kwargs)`` takes, waiting for the device to finish."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    f(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def sampling_speed(config: Config, device: torch.device, sizes: tuple[int, ...] = (16, 256), naive_steps: int = 30,
                   rounds: int = 3) -> dict[str, dict]:
    """Seconds to sample n images of 28x28: fast sampler, naive sampler, and one batched forward pass (the
    floor), interleaved over ``rounds`` (the median over rounds; naive: the total of its rounds).

    The naive sampler costs the same at every pixel, so it is timed on ``naive_steps`` pixels (split
    over the rounds) and scaled to all 784; the fast sampler is timed in full.
    """
    model = config.architecture.build().eval().to(device)
    pixels, per_round = 28 * 28, max(1, naive_steps // rounds)
    results = {}
    for n in sizes:
        images = torch.zeros(n, 1, 28, 28, dtype=torch.long, device=device)
        sample(model, images=images, start=pixels - 28)  # warm-up
        fast, naive, floor = [], [], []
        for _ in range(rounds):
            fast.append(_timed(device, sample, model, n, generator=torch.Generator().manual_seed(0)))
            naive.append(_timed(device, sample, model, images=images, start=pixels - per_round, method="naive"))
            with torch.inference_mode():
                floor.append(_timed(device, model, images))
        fast_s = statistics.median(fast)
        naive_s = sum(naive) * pixels / (per_round * rounds)
        floor_s = statistics.median(floor)
        results[str(n)] = {"fast_seconds": fast_s, "fast_round_seconds": fast, "naive_seconds": naive_s,
                           "one_pass_seconds": floor_s,
                           "speedup_vs_naive": naive_s / fast_s, "fast_over_one_pass": fast_s / floor_s}
    return results


def configs_measured() -> dict[str, Config]:
    """Every configuration whose training throughput the report shows, by name: the runs of the Q1 search,
    of the batch study and of the equal-depth pair, Q1 (batch 32) and its first recipe (batch 128), Q1's
    architecture with masked kernels, and the course's gated model."""
    q1_first = runs.config("q1-first")
    names = (*runs.SEARCH, *runs.RECIPE, *runs.EQUAL_DEPTH, "q1", "q1-first")
    return {**{name: runs.config(name) for name in names}, "q1 (masked kernels)": q1_first.replace(shifted=False),
            "gated (course)": Config(arch="gated", channels=q1_first.channels)}


def run(configs: dict[str, Config], sampled: Config, small: bool = False) -> dict:
    """The full benchmark of the report, in one run: training throughput of every config, the machine's
    matmul peak, and sampling speed of the ``sampled`` architecture."""
    device = runs.default_device()  # sampling's; training runs on the CPU
    sampling_device = {"sampling_device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if small:  # the benchmark in miniature (the smoke profile)
        return {"training": training_throughput(configs, images=4, rounds=2, batch_size=4),
                "matmul_gflops": matmul_gflops(256, 1), "sampling": sampling_speed(sampled, device, (2,), 2, rounds=1),
                "threads": torch.get_num_threads(), **sampling_device}
    return {"training": training_throughput(configs), "matmul_gflops": matmul_gflops(),
            "sampling": sampling_speed(sampled, device), "threads": torch.get_num_threads(), **sampling_device}


def measured(c: Config) -> dict:
    """What of a config the benchmark's speeds depend on: the architecture and the batch size (not the recipe)."""
    return {"arch": c.arch, **c.model_kwargs(), "batch_size": c.batch_size}


def inputs() -> dict:
    """Everything the benchmark's entry depends on: the architectures it measures (``measured``) and the one it
    samples with."""
    return {"configs": {name: measured(c) for name, c in configs_measured().items()},
            "sampled": measured(runs.config("q1"))}


def run_and_cache(recompute: bool = False, render: Callable[[], float] | None = None) -> cache.Entry:
    """The benchmark's cache entry (``python -m pixelcnn bench [--render]`` recomputes it).

    With ``render`` (``report.build.render_seconds``), the warm-cache execution time of the whole report is
    measured too (after the speed figures are saved, since the report reads them) and added to the entry.
    """
    key, small = inputs(), runs.budget()["benchmark_small"]
    configs = {name: Config.from_dict(c) for name, c in key["configs"].items()}
    sampled = Config.from_dict(key["sampled"])  # (a config with the default recipe: only its architecture counts)
    if recompute:
        cache.remove("benchmark", key)
    retrain = os.environ.get("PIXELCNN_TRAIN") == "1"  # recomputing everything (the notebook's RETRAIN switch)
    entry = cache.get("benchmark", key, lambda folder: run(configs, sampled, small), "python -m pixelcnn bench",
                      allowed=recompute or small or retrain)
    if render:
        metrics = {**entry.metrics, "report_render_seconds": render()}
        cache.remove("benchmark", key)
        entry = cache.get("benchmark", key, lambda folder: metrics, "python -m pixelcnn bench --render")
    return entry


def summary(metrics: dict) -> str:
    """The benchmark's ratios as lines of text."""
    rate = {name: v["images_per_second"] for name, v in metrics["training"].items()}
    shifted, masked, gated = rate["q1-first"], rate["q1 (masked kernels)"], rate["gated (course)"]
    spreads = {name: spread(v["round_images_per_second"]) for name, v in metrics["training"].items()}
    lines = [f"training images/s: {', '.join(f'{k} {v:.0f}' for k, v in rate.items())}",
             f"spread over rounds: {', '.join(f'{k} {v:.0%}' for k, v in spreads.items())}",
             f"simple / gated training speed: {shifted / gated:.2f}x",
             f"shifted / masked kernels training speed: {shifted / masked:.2f}x",
             "useful GFLOP/s: " + ", ".join(f"{k} {v['useful_gflops']:.1f}" for k, v in metrics["training"].items())
             + "; large matmul: " + ", ".join(f"{k} {v:.0f}" for k, v in metrics["matmul_gflops"].items())]
    lines.append(f"sampling on {metrics.get('sampling_device', 'cpu')} ({metrics['threads']} CPU threads):")
    for n, v in metrics["sampling"].items():
        lines.append(f"  {n} images: fast {v['fast_seconds']:.2f}s, naive {v['naive_seconds']:.1f}s "
                     f"({v['speedup_vs_naive']:.0f}x faster), one pass {v['one_pass_seconds']:.3f}s "
                     f"(fast is {v['fast_over_one_pass']:.0f}x the floor)")
    if "report_render_seconds" in metrics:
        lines.append(f"warm-cache report execution: {metrics['report_render_seconds']:.0f}s")
    return "\n".join(lines)


def sampling_table(metrics: dict):
    """The sampling measurements of the benchmark's ``metrics``, one row per number of images."""
    import pandas as pd

    return pd.DataFrame([{"n images": int(n), "fast (s)": v["fast_seconds"], "naive (s)": v["naive_seconds"],
                          "one pass (s)": v["one_pass_seconds"], "naive / fast": v["speedup_vs_naive"],
                          "fast / one pass": v["fast_over_one_pass"]} for n, v in metrics["sampling"].items()])


def prose(metrics: dict) -> Prose:
    """The benchmark's values the report quotes: the CPU threads it ran with and the sampling device."""
    return Prose(threads=str(metrics["threads"]), sampling_device=str(metrics.get("sampling_device", "cpu")))
