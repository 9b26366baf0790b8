"""The config of a training run: what the model is (``Architecture``), what it learns from (``Data``) and how
(``Recipe``: the optimisation and the seed).

A run is one frozen ``Config`` whose flat dict (``to_dict``) is its cache key; ``config.architecture``,
``config.data`` and ``config.recipe`` are its three concerns apart, each read by the code that needs it alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..core.models import MODEL_OPTIONS, PixelCNNBase, build, check_model_options


@dataclass(frozen=True)
class Architecture:
    """What a model is: an architecture of ``core.models`` and its options (``build``'s keyword arguments)."""

    arch: str
    options: dict

    def build(self) -> PixelCNNBase:
        """An untrained model of this architecture."""
        return build(self.arch, **self.options)


@dataclass(frozen=True)
class Data:
    """What a run learns from and is evaluated on."""

    image_size: int  # MNIST shrunk to image_size x image_size
    train_images: int  # a prefix of the shuffled training split
    eval_images: int  # validation and test images of an evaluation
    reverse: bool  # images rotated by 180 degrees


@dataclass(frozen=True)
class Recipe:
    """How a run learns: batches, steps, the learning rate's schedule, precision, clipping and the seed."""

    batch_size: int
    max_steps: int
    lr: float
    warmup_steps: int
    weight_decay: float
    precision: str
    seed: int
    grad_clip: float

    def lr_factor(self, step: int) -> float:
        """The learning rate at optimizer ``step`` as a share of ``lr``: a linear warm-up over
        ``warmup_steps``, then a cosine decay to zero at ``max_steps``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


ADDED_LATER = {"reverse": False, "grad_clip": 0.0}  # field -> default; see Config.to_dict


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
    grad_clip: float = 0.0  # clip the gradient's global norm to this before each step (0: no clipping)

    def __post_init__(self) -> None:
        check_model_options(self.arch, {k: getattr(self, k) for k in MODEL_OPTIONS[self.arch]}
                            if self.arch in MODEL_OPTIONS else {}, min_layers=1)
        for name in ("image_size", "train_images", "eval_images", "batch_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"config field {name!r} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.image_size > 28 or self.grad_clip < 0:
            raise ValueError(f"need lr > 0, image_size <= 28 and grad_clip >= 0; got lr={self.lr}, "
                             f"image_size={self.image_size}, grad_clip={self.grad_clip}")
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

    @property
    def epochs(self) -> float:
        """Passes over the training images that ``max_steps`` batches of ``batch_size`` make."""
        return self.max_steps * self.batch_size / self.train_images

    def model_kwargs(self) -> dict:
        """The keyword arguments of ``pixelcnn.build`` for this config."""
        return {name: getattr(self, name) for name in MODEL_OPTIONS[self.arch]}

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.arch, self.model_kwargs())

    @property
    def data(self) -> Data:
        return Data(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Data)})

    @property
    def recipe(self) -> Recipe:
        return Recipe(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Recipe)})
