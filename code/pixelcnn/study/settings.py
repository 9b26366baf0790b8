"""Where the package reads and writes: the folders of a checkout (override with environment variables).

* ``PIXELCNN_DATA``: where MNIST lives (default ``data/`` in the repository).
* ``PIXELCNN_CACHE``: the results cache (default ``cache/`` in the repository).
* ``PIXELCNN_PRETRAINED``: the course's ``PixelCNN.ckpt``.

``PIXELCNN_OFFLINE=1`` forbids downloads (MNIST, the checkpoint): what is missing is an error at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # code/pixelcnn


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
