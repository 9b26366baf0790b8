"""MNIST: verified files, the course's split, the data module, clear errors for missing or corrupt data."""

from __future__ import annotations

import shutil

import pytest
import torch

from pixelcnn.study.data import MNIST_SHA256, DataError, ensure_mnist, load_images, raw_dir, verify_mnist
from pixelcnn.study.training import MNISTDataModule


@pytest.fixture(scope="module")
def mnist_root():
    return ensure_mnist()


def test_files_match_pinned_hashes(mnist_root):
    assert verify_mnist(mnist_root) == []


def test_splits_are_the_course_split_of_integer_images(mnist_root):
    train, val, test = (load_images(s, mnist_root) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (50_000, 10_000, 10_000)
    assert train.dtype == torch.uint8 and train.shape[1:] == (1, 28, 28)
    assert int(train.max()) == 255 and int(train.min()) == 0
    # train and val partition the 60k official training images
    every = torch.cat([train, val]).flatten(1)
    assert torch.unique(every, dim=0).shape[0] == torch.unique(load_images_all(mnist_root), dim=0).shape[0]


def load_images_all(root):
    from torchvision.datasets import MNIST

    return MNIST(str(root), train=True, download=False).data.flatten(1)


def test_data_module_gives_uint8_batches(mnist_root):
    data = MNISTDataModule(batch_size=16, train_images=64, eval_images=32, root=mnist_root)
    data.setup()
    (batch,) = next(iter(data.train_dataloader()))
    assert batch.shape == (16, 1, 28, 28) and batch.dtype == torch.uint8
    assert len(data.val_dataloader().dataset) == 32


def copy_raw(src_root, dst_root):
    raw_dir(dst_root).mkdir(parents=True)
    for name in MNIST_SHA256:
        shutil.copy(raw_dir(src_root) / name, raw_dir(dst_root) / name)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_file_is_never_used(mnist_root, tmp_path, damage):
    copy_raw(mnist_root, tmp_path)
    path = raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[5000] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is corrupt"):
        load_images("test", tmp_path)


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELCNN_OFFLINE", "1")  # else they are fetched
    with pytest.raises(DataError, match="make data"):
        load_images("train", tmp_path)


def test_in_a_notebook_missing_files_say_what_to_do_there(tmp_path, monkeypatch):
    import sys
    import types

    monkeypatch.setenv("PIXELCNN_OFFLINE", "1")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    with pytest.raises(DataError, match="In this notebook") as error:
        load_images("test", tmp_path)
    assert "make data" not in str(error.value) and "Files pane" in str(error.value)


def test_unknown_split(mnist_root):
    with pytest.raises(ValueError, match="split"):
        load_images("validation", mnist_root)
