"""One config type for every training run, and the folders the package reads and writes.

Folders (override with environment variables):

* ``PIXELCNN_DATA``: where MNIST lives (default ``data/`` in the repository).
* ``PIXELCNN_CACHE``: the results cache (default ``cache/`` in the repository).
* ``PIXELCNN_PRETRAINED``: the course's ``PixelCNN.ckpt``.

``PIXELCNN_OFFLINE=1`` forbids downloads (MNIST, the checkpoint): what is missing is an error at once.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from .models import ARCHS

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The repository root when running from a checkout, else the working directory."""
    root = PACKAGE_DIR.parents[1]
    return root if (root / "_quarto.yml").exists() else Path.cwd()


def data_dir() -> Path:
    return Path(os.environ.get("PIXELCNN_DATA") or project_root() / "data")


def cache_dir() -> Path:
    return Path(os.environ.get("PIXELCNN_CACHE") or project_root() / "cache")


def offline() -> bool:
    """True when ``PIXELCNN_OFFLINE=1``: nothing is downloaded."""
    return os.environ.get("PIXELCNN_OFFLINE") == "1"


ADDED_LATER = {"reverse": False}  # field -> default; see Config.to_dict


@dataclass(frozen=True)
class Config:
    """Everything that determines a trained model: architecture, data, optimisation, seed."""

    arch: str = "simple"
    levels: int = 256
    channels: int = 64
    layers: int = 5
    kernel_size: int = 3
    first_kernel_size: int = 7
    residual: bool = True
    shifted: bool = True
    image_size: int = 28  # MNIST shrunk to image_size x image_size (tiny models for exact checks)
    train_images: int = 50_000  # a prefix of the shuffled 50k training split (smaller for smoke runs)
    eval_images: int = 10_000  # validation and test images used for evaluation
    batch_size: int = 128
    max_steps: int = 391
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    precision: str = "bf16-mixed"
    seed: int = 42
    reverse: bool = False  # train on images rotated by 180 degrees: the model generates bottom-right first

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        positive = ("levels", "channels", "image_size", "train_images", "eval_images", "batch_size", "max_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"config field {name!r} must be >= 1, got {getattr(self, name)}")
        if self.layers < 1:
            raise ValueError(f"config field 'layers' must be >= 1, got {self.layers}")
        for name in ("kernel_size", "first_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"config field {name!r} must be a positive odd number, got {k}")
        if self.first_kernel_size < 3:
            raise ValueError(f"first_kernel_size must be >= 3 (its centre is masked), got {self.first_kernel_size}")
        if not 2 <= self.levels <= 256 or self.lr <= 0 or self.image_size > 28:
            raise ValueError(f"need 2 <= levels <= 256, lr > 0 and image_size <= 28; got levels={self.levels}, "
                             f"lr={self.lr}, image_size={self.image_size}")
        if self.precision not in ("32-true", "bf16-mixed", "16-mixed"):
            raise ValueError(f"precision must be '32-true', 'bf16-mixed' or '16-mixed', got {self.precision!r}")

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        """Build a config, rejecting unknown keys (typos) with the list of valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes) -> Config:
        return Config.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        """The fields as a dict; fields added later are left out at their default, so the cache keys
        of earlier runs stay what they were."""
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items() if k not in ADDED_LATER or v != ADDED_LATER[k]}

    def model_kwargs(self) -> dict:
        """The keyword arguments of ``pixelcnn.build`` for this config."""
        if self.arch == "gated":
            return {"levels": self.levels, "channels": self.channels}
        return {"levels": self.levels, "channels": self.channels, "layers": self.layers,
                "kernel_size": self.kernel_size, "first_kernel_size": self.first_kernel_size,
                "residual": self.residual, "shifted": self.shifted}
