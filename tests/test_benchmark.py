"""The benchmark's arithmetic counts and what its key depends on (speed itself is measured by
`python -m pixelcnn bench`, not tested)."""

from __future__ import annotations

import pixelcnn
from pixelcnn.study.benchmark import useful_macs


def test_masked_and_shifted_models_do_the_same_useful_work():
    shifted = pixelcnn.build("simple", layers=2, channels=8)
    masked = pixelcnn.build("simple", layers=2, channels=8, shifted=False)
    assert useful_macs(shifted, 5, 5) == useful_macs(masked, 5, 5)


def test_useful_macs_of_one_layer_by_hand():
    model = pixelcnn.build("simple", layers=0, channels=4, first_kernel_size=3, levels=2)
    # first vertical: 3 taps (row above), first horizontal: 1 tap (pixel to the left), output 1x1: 4 -> 2
    assert useful_macs(model, 1, 1) == 1 * 4 * 3 + 1 * 4 * 1 + 4 * 2


def test_the_benchmark_key_follows_the_architectures_not_the_recipes(monkeypatch):
    from pixelcnn.study import benchmark, cache, runs

    key = cache.entry_key("benchmark", benchmark.inputs())
    monkeypatch.setitem(runs.RUNS, "q1", runs.config("q1").replace(lr=1e-4, max_steps=7, grad_clip=0.5))
    assert cache.entry_key("benchmark", benchmark.inputs()) == key  # the same architectures measured
    monkeypatch.setitem(runs.RUNS, "q1", runs.config("q1").replace(channels=32))
    assert cache.entry_key("benchmark", benchmark.inputs()) != key
