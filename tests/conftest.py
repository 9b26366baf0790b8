"""Shared fixtures: every test works in temporary cache folders; MNIST comes from the data folder.

Tests that need the course's checkpoint take the ``course_checkpoint`` fixture: without the file and
without a way to download it, they are skipped with one line that says how to provide it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

_UNAVAILABLE: dict[tuple[Path, ...], str] = {}  # candidates -> why; a failed download is not retried


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Point the cache at a temporary folder so tests never touch the committed cache/."""
    monkeypatch.setenv("PIXELCNN_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    return tmp_path / "cache"


@pytest.fixture
def course_checkpoint() -> Path:
    """The verified PixelCNN.ckpt (downloaded if it is nowhere); skips the test when it cannot be had."""
    from pixelcnn.study.pretrained import URL, PretrainedError, candidates, checkpoint_path

    key = tuple(candidates())
    if key not in _UNAVAILABLE:
        try:
            return checkpoint_path()
        except PretrainedError as error:
            if "not found" not in str(error):
                raise  # a wrong or damaged file is an error, not a reason to skip
            _UNAVAILABLE[key] = "cannot be downloaded" if "download failed" in str(error) else "not found"
    pytest.skip(f"needs the course checkpoint PixelCNN.ckpt ({_UNAVAILABLE[key]}): download {URL} and "
                f"set PIXELCNN_PRETRAINED=/path/to/PixelCNN.ckpt")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (more only add synchronisation on a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
