"""Training: configs, a tiny run end to end, resuming from a checkpoint, loading by name."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from pixelcnn.study import runs
from pixelcnn.study.config import Config
from pixelcnn.study.training import fit, load_trained, merged_metrics, run_folder, train

TINY = Config(channels=8, layers=2, train_images=256, eval_images=64, batch_size=32, max_steps=12, warmup_steps=2,
              precision="32-true")


@pytest.mark.parametrize("changes,message", [
    ({"arch": "pixelrnn"}, "unknown architecture"),
    ({"layers": 0}, "layers"),
    ({"channels": -3}, "channels"),
    ({"kernel_size": 4}, "odd"),
    ({"kernel_size": 0}, "odd"),
    ({"first_kernel_size": 1}, "first_kernel_size"),
    ({"lerning_rate": 1e-3}, "unknown config key"),
    ({"precision": "fp8"}, "precision"),
    ({"grad_clip": -1.0}, "grad_clip"),
])
def test_bad_configs_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        Config.from_dict({**Config().to_dict(), **changes})


def test_a_config_is_three_concerns_apart_and_one_key():
    config = runs.config("q1")
    assert config.architecture.arch == "simple" and config.architecture.options["layers"] == config.layers
    assert config.data.train_images == config.train_images and config.recipe.grad_clip == config.grad_clip
    assert config.recipe.lr_factor(config.warmup_steps - 1) == 1.0 and config.recipe.lr_factor(config.max_steps) < 1e-9
    fields = [*config.architecture.options, "arch", *vars(config.data), *vars(config.recipe)]
    assert sorted(fields) == sorted(Config.__dataclass_fields__)  # every field in exactly one concern
    assert type(config.architecture.build()).__name__ == "SimplePixelCNN"


def test_unknown_run_name():
    with pytest.raises(ValueError, match="known runs"):
        runs.config("q9")


def test_train_publishes_an_entry_with_curves_and_weights():
    entry = train(TINY, progress=False)
    metrics = pd.read_csv(entry.path("metrics.csv"))
    assert metrics["train_bpd"].notna().sum() >= 1 and metrics["val_bpd"].notna().sum() >= 1
    m = entry.metrics
    assert m["train_images"] == 12 * 32 and 0 < m["test_bpd"] < 8.5 and m["images_per_second"] > 0
    assert m["world_size"] == 1 and m["effective_batch_size"] == 32 and m["resumed_at_steps"] == []
    model = load_trained(TINY, "cmd")
    assert not model.training
    state = torch.load(entry.path("model.pt"), weights_only=True)
    assert all(not k.startswith("optimizer") for k in state)
    assert train(TINY, progress=False).folder == entry.folder  # a second call is a cache hit


def test_resumed_training_continues_from_its_checkpoint():
    first, _ = fit(TINY, progress=False, stop_after_steps=6)
    assert first.trainer.global_step == 6
    assert (run_folder(TINY) / "checkpoints" / "last.ckpt").exists()
    resumed, clock = fit(TINY, progress=False)
    assert resumed.trainer.global_step == 12
    assert clock.images == 12 * 32  # counted across both segments, nothing redone
    assert clock.resumed_at == [6]
    steps = merged_metrics(run_folder(TINY)).dropna(subset=["train_bpd"])["step"]
    assert steps.is_unique


def test_a_run_trains_into_any_folder(tmp_path):
    module, _ = fit(TINY, progress=False, stop_after_steps=2, folder=tmp_path / "mine")
    assert module.trainer.global_step == 2 and (tmp_path / "mine" / "checkpoints" / "last.ckpt").exists()
    assert not run_folder(TINY).exists()  # nothing written to the cache


def test_gradient_clipping_bounds_the_norm_each_step_sees_and_the_norm_before_it_is_logged():
    clipped = TINY.replace(grad_clip=0.01, max_steps=4)
    assert "grad_clip" not in TINY.to_dict() and clipped.to_dict()["grad_clip"] == 0.01  # old keys unchanged
    seen = []

    class NormAtStep(Callback):  # the gradient's norm when the optimizer steps, i.e. after any clipping
        def on_train_start(self, trainer, module) -> None:
            trainer.optimizers[0].register_step_pre_hook(lambda optimizer, args, kwargs: seen.append(
                torch.nn.utils.get_total_norm([p.grad for p in module.parameters() if p.grad is not None]).item()))

    module, _ = fit(clipped, progress=False, callbacks=[NormAtStep()])
    assert len(seen) == 4 and max(seen) <= 0.01 * 1.001
    logged = merged_metrics(run_folder(clipped))["grad_norm"].dropna()
    assert len(logged) >= 1 and logged.min() > 0.01  # the norm logged is the one before clipping


def test_missing_run_says_how_to_make_it():
    from pixelcnn.study.cache import CacheError

    with pytest.raises(CacheError, match="python -m pixelcnn train q1"):
        load_trained(TINY.replace(seed=7), runs.command("q1"))


# Mean test bits/dim of the committed Q1 model on the first 500 MNIST test images, computed once with
# this code: a change to the model code that alters what the committed weights compute is caught here.
Q1_SUBSET, Q1_SUBSET_BPD = 500, 0.8539041748046875


@pytest.fixture
def committed_cache(monkeypatch):
    from pixelcnn.study.data import ensure_mnist
    from pixelcnn.study.settings import project_root

    monkeypatch.setenv("PIXELCNN_CACHE", str(project_root() / "cache"))
    ensure_mnist()


def test_q1_committed_weights_give_their_reference_score_on_a_fixed_test_subset(committed_cache):
    from pixelcnn.study.data import load_images
    from pixelcnn.study.training import evaluate

    score = evaluate(runs.load("q1"), load_images("test")[:Q1_SUBSET])
    assert score == pytest.approx(Q1_SUBSET_BPD, abs=1e-5)


@pytest.mark.slow
def test_q1_test_score_recomputes_from_the_committed_weights(committed_cache):
    """The committed Q1 entry: its weights give exactly the test bits/dim its manifest records."""
    from pixelcnn.study.data import load_images
    from pixelcnn.study.training import evaluate

    entry = runs.trained("q1")
    recomputed = evaluate(runs.load("q1"), load_images("test"), progress=True)
    assert recomputed == pytest.approx(entry.metrics["test_bpd"], abs=1e-4)
