"""The course's pretrained model: strict loading and its published test score."""

from __future__ import annotations

import pytest

import pixelcnn
from pixelcnn.data import ensure_mnist, load_images
from pixelcnn.pretrained import PretrainedError, checkpoint_path, load_pretrained
from pixelcnn.training import evaluate


def test_pretrained_scores_the_course_bits_per_dim_on_the_full_test_set():
    ensure_mnist()
    model = pixelcnn.load("pretrained")
    assert pixelcnn.count_parameters(model) == 852_160
    assert evaluate(model, load_images("test")) == pytest.approx(0.808, abs=0.005)


def test_missing_checkpoint_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr("pixelcnn.pretrained.candidates", lambda: [tmp_path / "nowhere.ckpt"])
    with pytest.raises(PretrainedError, match="nowhere.ckpt"):
        checkpoint_path(download=False)


def test_wrong_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "PixelCNN.ckpt"
    fake.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(fake))
    with pytest.raises(PretrainedError, match="sha256"):
        checkpoint_path()
    with pytest.raises(PretrainedError, match="cannot read"):
        load_pretrained(fake)
