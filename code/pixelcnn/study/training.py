"""Training with Lightning: the LightningModule, resumable runs, and the cached result of a run.

``train(config)`` trains (resuming from the run's last checkpoint if one exists), evaluates the
final weights in fp32 on the validation and test sets, and publishes a cache entry with the
weights (no optimizer state), the metrics CSV and the manifest.

Several devices or nodes: ``train(config, devices=4, num_nodes=2, strategy="ddp")`` hands these to
Lightning's Trainer (data parallelism). ``config.batch_size`` is per device, so each optimizer step
sees ``batch_size * world_size`` images; the learning rate and schedule are not rescaled, and
``max_steps`` counts optimizer steps. Only the global rank 0 process publishes the entry; the
manifest records the world size and the effective batch size. The entry's key is the config
alone, so a result trained on N devices is found and loaded like any other.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from ..core.models import bits_per_dim, count_parameters, device_of
from . import cache
from .config import Config
from .data import TRAIN_SIZE, ensure_mnist, load_images


class MNISTDataModule(L.LightningDataModule):
    """8-bit MNIST for Lightning: batches of uint8 images [B, 1, 28, 28]."""

    def __init__(self, batch_size: int = 128, train_images: int = TRAIN_SIZE, eval_images: int = 10_000,
                 root: Path | None = None, seed: int = 0, size: int = 28, levels: int = 256,
                 reverse: bool = False) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.train_images, self.eval_images = train_images, eval_images  # prefixes of the splits used
        self.root, self.seed = root, seed
        self.size, self.levels, self.reverse = size, levels, reverse  # how the images are shrunk and turned

    def prepare_data(self) -> None:
        ensure_mnist(self.root)

    def setup(self, stage: str | None = None) -> None:
        split = {name: load_images(name, self.root, self.size, self.levels, self.reverse)
                 for name in ("train", "val", "test")}
        self.train = split["train"][: self.train_images]
        self.val, self.test = split["val"][: self.eval_images], split["test"][: self.eval_images]

    def _loader(self, images: torch.Tensor, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(TensorDataset(images), batch_size=self.batch_size, shuffle=shuffle, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)


class PixelCNNModule(L.LightningModule):
    """NLL in bits/dim; logs ``train_bpd`` and ``grad_norm`` (before any clipping) per step and
    ``val_bpd``/``test_bpd`` per epoch."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters(config)
        self.config = Config.from_dict(config)
        self.model = self.config.architecture.build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_fit_start(self) -> None:
        self.model.to(memory_format=torch.channels_last)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = bits_per_dim(self.model, batch[0].long()).mean()
        self.log("train_bpd", loss, on_step=True, prog_bar=True)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:  # Lightning clips after this
        norm = torch.nn.utils.get_total_norm([p.grad for p in self.parameters() if p.grad is not None])
        self.log("grad_norm", norm, on_step=True)

    def _evaluate(self, batch: list[torch.Tensor], name: str) -> None:
        with torch.autocast(self.device.type, enabled=False):  # evaluate in fp32
            bpd = bits_per_dim(self.model, batch[0].long()).mean()
        self.log(name, bpd, on_epoch=True, prog_bar=True, batch_size=len(batch[0]), sync_dist=True)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val_bpd")

    def test_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test_bpd")

    def configure_optimizers(self):
        recipe = self.config.recipe
        optimizer = torch.optim.AdamW(self.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        # a linear warm-up, then a cosine decay to zero at max_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, recipe.lr_factor)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]


class TrainClock(Callback):
    """Training seconds and images (over all devices), summed over resumed segments, and the steps the
    run was resumed at (all saved in the checkpoints)."""

    def __init__(self) -> None:
        self.seconds, self.images, self.resumed_at, self._start = 0.0, 0, [], 0.0

    def on_train_start(self, trainer, module) -> None:
        if trainer.global_step > 0:
            self.resumed_at.append(trainer.global_step)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self._start
        self.images += len(batch[0]) * trainer.world_size

    def state_dict(self) -> dict:
        return {"seconds": self.seconds, "images": self.images, "resumed_at": self.resumed_at}

    def load_state_dict(self, state: dict) -> None:
        self.seconds, self.images, self.resumed_at = state["seconds"], state["images"], state.get("resumed_at", [])


def run_folder(config: Config) -> Path:
    """Where a run keeps its checkpoints and logs while training (not part of the cache)."""
    return cache.work_folder("train", config.to_dict())


def merged_metrics(folder: Path) -> pd.DataFrame:
    """All logged metrics of a run, across resumed segments, without rows that were redone."""
    segments = sorted((folder / "logs").glob("version_*/metrics.csv"),
                      key=lambda p: int(p.parent.name.removeprefix("version_")))  # version_0, version_1, ...
    frames = [pd.read_csv(p) for p in segments if p.stat().st_size > 0]
    kept = []
    for i, frame in enumerate(frames):
        later = [f["step"].min() for f in frames[i + 1:] if len(f)]
        kept.append(frame[frame["step"] < min(later)] if later else frame)
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=["step"])


def fit(config: Config, progress: bool = True, stop_after_steps: int | None = None, folder: Path | None = None,
        **trainer_options) -> tuple[PixelCNNModule, TrainClock]:
    """Train (or resume) the run of ``config`` in ``folder`` (its checkpoints and logs; by default the cache's
    work folder of the run); returns the module (latest weights) and its clock.

    ``stop_after_steps`` ends this call early (the run stays resumable): used to test resuming.
    ``trainer_options`` (``accelerator``, ``devices``, ``num_nodes``, ``strategy``, extra ``callbacks``) go to
    the Trainer.
    """
    folder = folder or run_folder(config)
    for name in ("lightning.pytorch", "lightning.fabric"):  # keep Lightning's banners out of the report
        logging.getLogger(name).setLevel(logging.WARNING)
    recipe, images = config.recipe, config.data
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    module = PixelCNNModule(config.to_dict())
    data = MNISTDataModule(recipe.batch_size, images.train_images, images.eval_images, seed=recipe.seed,
                           size=images.image_size, levels=config.levels, reverse=images.reverse)
    clock = TrainClock()
    checkpoints = ModelCheckpoint(dirpath=folder / "checkpoints", save_last=True, save_top_k=0,
                                  every_n_train_steps=max(1, min(50, recipe.max_steps // 4)))
    trainer = L.Trainer(
        max_steps=min(recipe.max_steps, stop_after_steps or recipe.max_steps), precision=recipe.precision,
        logger=CSVLogger(folder, name="logs"), callbacks=[clock, checkpoints, *trainer_options.pop("callbacks", [])],
        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0, deterministic=True,
        log_every_n_steps=max(1, min(10, recipe.max_steps // 8)), gradient_clip_val=recipe.grad_clip or None,
        **{"accelerator": "auto", "devices": 1, **trainer_options},
    )
    last = folder / "checkpoints" / "last.ckpt"
    if last.exists():
        try:
            torch.load(last, map_location="cpu", weights_only=False)
        except Exception as error:
            raise cache.CacheError(f"the run's last checkpoint {last} is unreadable ({error}); delete {folder} "
                                   "to restart this run from scratch") from error
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*resuming from a checkpoint that ended before the epoch ended.*")
        trainer.fit(module, data, ckpt_path=str(last) if last.exists() else None)
    return module, clock


def evaluate(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 500, progress: bool = False,
             device: torch.device | str | None = None) -> float:
    """Mean bits/dim of ``model`` over uint8/long ``images`` [N, 1, H, W], in fp32, on ``device`` (default: the
    model's; the model is moved there)."""
    from tqdm import tqdm

    device = torch.device(device) if device is not None else device_of(model)
    model.to(device).eval()
    total = 0.0
    with torch.no_grad():
        for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="evaluate"):
            total += bits_per_dim(model, images[start:start + batch_size].to(device).long()).sum().item()
    return total / len(images)


def train(config: Config, progress: bool = True, **trainer_options) -> cache.Entry | None:
    """The cache entry of ``config``'s trained model, training or resuming it if it is missing.

    ``trainer_options`` (``accelerator``, ``devices``, ``num_nodes``, ``strategy``) go to Lightning's
    Trainer. With several processes, only the global rank 0 publishes the entry; the others train
    alongside it and return None.
    """
    from lightning.pytorch.utilities import rank_zero_only

    entry = cache.lookup("train", config.to_dict())
    if entry is not None:
        return entry
    if rank_zero_only.rank != 0 or os.environ.get("NODE_RANK", "0") != "0":
        fit(config, progress, **trainer_options)  # started by Lightning, torchrun or SLURM: trains alongside rank 0
        return None

    def produce(out: Path) -> dict:
        module, clock = fit(config, progress, **trainer_options)
        trainer = module.trainer
        model = module.model.float().eval().to(memory_format=torch.contiguous_format)
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.pt")
        metrics = merged_metrics(run_folder(config))
        metrics.to_csv(out / "metrics.csv", index=False)
        n, data = config.eval_images, {"size": config.image_size, "levels": config.levels, "reverse": config.reverse}
        return {
            "val_bpd": evaluate(model, load_images("val", **data)[:n], progress=progress),
            "test_bpd": evaluate(model, load_images("test", **data)[:n], progress=progress),
            "train_seconds": round(clock.seconds, 1),
            "train_images": clock.images,
            "images_per_second": round(clock.images / max(clock.seconds, 1e-9), 1),
            "parameters": count_parameters(model),
            "steps": config.max_steps,
            "resumed_at_steps": clock.resumed_at,
            "accelerator": type(trainer.accelerator).__name__, "strategy": type(trainer.strategy).__name__,
            "num_nodes": trainer.num_nodes, "devices_per_node": trainer.num_devices,
            "world_size": trainer.world_size, "effective_batch_size": config.batch_size * trainer.world_size,
        }

    entry = cache.get("train", config.to_dict(), produce, "python -m pixelcnn train NAME")  # locked: trained once
    shutil.rmtree(run_folder(config), ignore_errors=True)  # checkpoints are not needed once published
    return entry


def load_trained(config: Config, command: str) -> torch.nn.Module:
    """The trained model of ``config`` from its verified cache entry, in eval mode on CPU."""
    return load_weights(config, cache.require("train", config.to_dict(), command))


def load_weights(config: Config, entry: cache.Entry) -> torch.nn.Module:
    """The model of ``config`` with the weights of its (verified) training entry, in eval mode on CPU."""
    model = config.architecture.build()
    model.load_state_dict(torch.load(entry.path("model.pt"), map_location="cpu", weights_only=True))
    return model.eval()
