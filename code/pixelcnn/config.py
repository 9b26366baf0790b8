"""One config type for every training run, the folders the package reads and writes, and the data's identity.

Folders (override with environment variables):

* ``PIXELCNN_DATA``: where MNIST lives (default ``data/`` in the repository).
* ``PIXELCNN_CACHE``: the results cache (default ``cache/`` in the repository).
* ``PIXELCNN_PRETRAINED``: the course's ``PixelCNN.ckpt``.

``PIXELCNN_OFFLINE=1`` forbids downloads (MNIST, the checkpoint): what is missing is an error at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

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


def sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The MNIST files, pinned by hash; their identity is part of every cache key (``cache.entry_key``).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
DATA_ID = hashlib.sha256("".join(sorted(MNIST_SHA256.values())).encode()).hexdigest()[:16]


# Each architecture's options: the keyword arguments of ``models.build``, with their defaults. The one
# list of them: ``Config.model_kwargs`` takes these fields, ``check_model_options`` checks them.
_SIMPLE = {"levels": 256, "channels": 64, "layers": 5, "kernel_size": 3, "first_kernel_size": 7, "residual": True,
           "shifted": True}
MODEL_OPTIONS = {"simple": _SIMPLE, "noncausal": _SIMPLE, "gated": {"levels": 256, "channels": 64}}
ARCHS = tuple(MODEL_OPTIONS)


def check_model_options(arch: str, options: dict, min_layers: int = 0) -> None:
    """Raise ValueError unless ``options`` are valid options of architecture ``arch``."""
    if arch not in MODEL_OPTIONS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    unknown = sorted(set(options) - set(MODEL_OPTIONS[arch]))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for arch {arch!r}; allowed: {sorted(MODEL_OPTIONS[arch])}")
    values = {**MODEL_OPTIONS[arch], **options}
    if not 2 <= values["levels"] <= 256 or values["channels"] < 1:
        raise ValueError(f"need 2 <= levels <= 256 and channels >= 1; got levels={values['levels']}, "
                         f"channels={values['channels']}")
    if arch == "gated":
        return
    if values["layers"] < min_layers:
        raise ValueError(f"need layers >= {min_layers}, got {values['layers']}")
    for name in ("kernel_size", "first_kernel_size"):
        if values[name] < 1 or values[name] % 2 == 0:
            raise ValueError(f"{name} must be a positive odd number, got {values[name]}")
    if values["first_kernel_size"] < 3:
        raise ValueError(f"first_kernel_size must be >= 3 (its centre is masked), got {values['first_kernel_size']}")


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

    def lr_factor(self, step: int) -> float:
        """The learning rate at optimizer ``step`` as a share of ``lr``: a linear warm-up over
        ``warmup_steps``, then a cosine decay to zero at ``max_steps``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    @property
    def epochs(self) -> float:
        """Passes over the training images that ``max_steps`` batches of ``batch_size`` make."""
        return self.max_steps * self.batch_size / self.train_images

    def model_kwargs(self) -> dict:
        """The keyword arguments of ``pixelcnn.build`` for this config."""
        return {name: getattr(self, name) for name in MODEL_OPTIONS[self.arch]}
