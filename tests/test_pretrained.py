"""The course's pretrained model: strict loading, its test score, and what happens when it is missing."""

from __future__ import annotations

import urllib.error

import pytest

import pixelcnn
from pixelcnn.study import cache
from pixelcnn.study.data import ensure_mnist, load_images
from pixelcnn.study.pretrained import PretrainedError, checkpoint_path, load_pretrained
from pixelcnn.study.settings import project_root
from pixelcnn.study.training import evaluate

# Mean test bits/dim of the course model on the first 2,000 MNIST test images, in four parts of 500
# (so that progress shows), computed once with this code. Their mean is 0.80733; the whole test set
# gives 0.8089, the course's published 0.808.
SUBSET_BPD = {0: 0.8016808471679687, 500: 0.7963471069335938, 1000: 0.8234191284179687, 1500: 0.8078614501953125}
PART = 500


@pytest.fixture
def course_model(course_checkpoint):
    return load_pretrained(course_checkpoint)


def test_pretrained_loads_by_name_with_the_course_architecture(course_checkpoint):
    model = pixelcnn.load("pretrained")
    assert pixelcnn.count_parameters(model) == 852_160 and not model.training


@pytest.mark.parametrize("start", list(SUBSET_BPD))
def test_pretrained_scores_its_reference_bits_per_dim_on_a_fixed_test_subset(course_model, start):
    images = load_images("test", ensure_mnist())[start:start + PART]
    assert evaluate(course_model, images) == pytest.approx(SUBSET_BPD[start], abs=1e-5)


def committed_full_test_set_score(monkeypatch) -> float:
    monkeypatch.setenv("PIXELCNN_CACHE", str(project_root() / "cache"))
    entry = cache.lookup("evaluate", {"model": "pretrained", "images": 10_000})  # verifies the file hashes
    assert entry is not None, "the committed cache lacks the evaluation of the course model"
    return entry.metrics["test_bpd"]


def test_committed_evaluation_gives_the_course_score_on_the_full_test_set(monkeypatch):
    assert committed_full_test_set_score(monkeypatch) == pytest.approx(0.808, abs=0.005)


@pytest.mark.slow
def test_pretrained_scores_the_course_bits_per_dim_on_the_full_test_set(course_checkpoint, monkeypatch):
    ensure_mnist()
    recomputed = evaluate(pixelcnn.load("pretrained"), load_images("test"), progress=True)
    assert recomputed == pytest.approx(committed_full_test_set_score(monkeypatch), abs=1e-4)
    assert recomputed == pytest.approx(0.808, abs=0.005)


def test_missing_checkpoint_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr("pixelcnn.study.pretrained.candidates", lambda: [tmp_path / "nowhere.ckpt"])
    with pytest.raises(PretrainedError, match="nowhere.ckpt"):
        checkpoint_path(download=False)


def test_pretrained_variable_is_the_only_place_looked_at(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(tmp_path / "mine.ckpt"))
    monkeypatch.setenv("PIXELCNN_OFFLINE", "1")
    with pytest.raises(PretrainedError, match=r"PIXELCNN_OFFLINE=1.*mine\.ckpt\)$"):
        checkpoint_path()


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "home" / ".cache" / "pixelcnn" / "PixelCNN.ckpt"
    monkeypatch.setattr("pixelcnn.study.pretrained.candidates", lambda: [target])

    def no_network(*args, **kwargs):
        target.with_suffix(".part").write_bytes(b"half")  # as if the connection broke midway
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("pixelcnn.study.pretrained.urllib.request.urlopen", no_network)
    with pytest.raises(PretrainedError, match=r"download failed \(no route to host\)") as error:
        checkpoint_path()
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == [], "the folders made for the download are removed again"


def test_without_the_checkpoint_the_fixture_skips_in_one_line(tmp_path, monkeypatch, request):
    monkeypatch.setattr("pixelcnn.study.pretrained.candidates", lambda: [tmp_path / "PixelCNN.ckpt"])
    monkeypatch.setenv("PIXELCNN_OFFLINE", "1")
    with pytest.raises(pytest.skip.Exception, match="set PIXELCNN_PRETRAINED=") as skipped:
        request.getfixturevalue("course_checkpoint")
    assert "\n" not in str(skipped.value)


def test_wrong_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "PixelCNN.ckpt"
    fake.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(fake))
    with pytest.raises(PretrainedError, match="sha256"):
        checkpoint_path()
    with pytest.raises(PretrainedError, match="cannot read"):
        load_pretrained(fake)
