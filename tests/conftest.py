"""Shared fixtures: every test works in temporary cache folders; MNIST comes from the data folder."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Point the cache at a temporary folder so tests never touch the committed cache/."""
    monkeypatch.setenv("PIXELCNN_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    return tmp_path / "cache"
