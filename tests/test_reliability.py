"""Reliability: bad inputs are refused with messages that name the problem; faults lose nothing.

BAD_INPUTS enumerates the refused inputs (each: the exception type and words the message must
contain); the fault scenarios below kill real training processes, race two processes for one
cache entry, and repeat a run to check determinism.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import pixelcnn
from pixelcnn.core.estimators import conditional_on_later_pixels
from pixelcnn.core.inference import full_conditional
from pixelcnn.core.sampling import sample
from pixelcnn.study import cache, runs
from pixelcnn.study.cache import CacheError
from pixelcnn.study.config import Config
from pixelcnn.study.data import MNIST_SHA256, DataError, ensure_mnist, load_images, raw_dir
from pixelcnn.study.pretrained import PretrainedError, load_pretrained

SMALL = pixelcnn.build("simple", channels=4, layers=1, levels=4)


def make_config(**changes):
    return Config.from_dict({**Config().to_dict(), **changes})


BAD_INPUTS = {
    # configs: rejected before any work starts
    "unknown architecture": (lambda: make_config(arch="pixelrnn"), ValueError, "unknown architecture"),
    "zero layers": (lambda: make_config(layers=0), ValueError, "layers"),
    "negative width": (lambda: make_config(channels=-8), ValueError, "channels"),
    "even kernel": (lambda: make_config(kernel_size=4), ValueError, "odd"),
    "zero kernel": (lambda: make_config(kernel_size=0), ValueError, "odd"),
    "first kernel too small": (lambda: make_config(first_kernel_size=1), ValueError, "first_kernel_size"),
    "typo in a key": (lambda: make_config(chanels=64), ValueError, "unknown config key"),
    "unknown run name": (lambda: runs.config("q7"), ValueError, "known runs"),
    "unknown option to build": (lambda: pixelcnn.build("gated", layers=3), ValueError, "unknown option"),
    # tensors given to models, samplers and estimators
    "float images": (lambda: SMALL(torch.zeros(1, 1, 4, 4)), ValueError, "integer"),
    "images without a channel axis": (lambda: SMALL(torch.zeros(1, 4, 4, dtype=torch.long)), ValueError, "shape"),
    "pixel above the levels": (lambda: SMALL(torch.full((1, 1, 4, 4), 4)), ValueError, "0..3"),
    "negative pixel": (lambda: SMALL(torch.full((1, 1, 4, 4), -1)), ValueError, "0..3"),
    "empty image": (lambda: SMALL(torch.zeros(1, 1, 0, 3, dtype=torch.long)), ValueError, "H, W >= 1"),
    "sampling with no count": (lambda: sample(SMALL), ValueError, "n >= 1"),
    "completion start past the end": (lambda: sample(SMALL, images=torch.zeros(1, 1, 2, 2, dtype=torch.long),
                                                     start=5), ValueError, "start"),
    "stop before start": (lambda: sample(SMALL, 1, size=(2, 2), start=3, stop=1), ValueError, "start"),
    "unknown sampling method": (lambda: sample(SMALL, 1, size=(2, 2), method="magic"), ValueError, "method"),
    "zero temperature": (lambda: sample(SMALL, 1, size=(2, 2), temperature=0), ValueError, "temperature"),
    "estimator given floats": (lambda: full_conditional(SMALL, torch.zeros(1, 1, 3, 3), 4), ValueError,
                               "integer"),
    "estimator given too many levels": (lambda: conditional_on_later_pixels(
        SMALL, torch.full((1, 1, 3, 3), 9), 4, 2, torch.Generator()), ValueError, "0..3"),
    "unknown data split": (lambda: load_images("validation"), ValueError, "split"),
    "unknown cache kind": (lambda: cache.entry_key("weights", {}), ValueError, "unknown cache kind"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_message_naming_it(name):
    make, error, words = BAD_INPUTS[name]
    with pytest.raises(error, match=words):
        make()


def test_at_least_twenty_distinct_bad_inputs_are_covered():
    assert len(BAD_INPUTS) >= 20


# ---- files -----------------------------------------------------------------------------------------


@pytest.fixture
def mnist_copy(tmp_path):
    source = ensure_mnist()
    raw_dir(tmp_path).mkdir(parents=True)
    for name in MNIST_SHA256:
        shutil.copy(raw_dir(source) / name, raw_dir(tmp_path) / name)
    return tmp_path


def test_missing_mnist_file(mnist_copy, monkeypatch):
    monkeypatch.setenv("PIXELCNN_OFFLINE", "1")  # else it is fetched
    (raw_dir(mnist_copy) / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_images("train", mnist_copy)


def test_mnist_with_a_wrong_hash_is_never_used(mnist_copy):
    path = raw_dir(mnist_copy) / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt"):
        load_images("train", mnist_copy)


def test_truncated_idx_file(mnist_copy):
    path = raw_dir(mnist_copy) / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="corrupt"):
        load_images("test", mnist_copy)


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(PretrainedError, match="cannot read"):
        load_pretrained(tmp_path / "absent.ckpt")
    torn = tmp_path / "torn.ckpt"
    torn.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PretrainedError, match="cannot read"):
        load_pretrained(torn)


@pytest.mark.parametrize("damage", ["edit file", "truncate file", "truncate manifest", "edit manifest"])
def test_damaged_cache_entry_names_itself_and_the_fix(damage):
    entry = cache.write("estimate", {"damage": damage}, lambda f: (f / "x.pt").write_bytes(b"12345678") and {})
    target = entry.folder / ("x.pt" if "file" in damage else "manifest.json")
    text = target.read_bytes()
    target.write_bytes(text[: len(text) // 2] if "truncate" in damage else text.replace(b"1", b"2"))
    with pytest.raises(CacheError, match=entry.folder.name) as error:
        cache.lookup("estimate", {"damage": damage})
    assert "recompute" in str(error.value)


def test_corrupt_run_checkpoint_names_the_fix():
    from pixelcnn.study.training import fit, run_folder

    config = Config(channels=4, layers=1, train_images=64, eval_images=16, batch_size=16, max_steps=8,
                    warmup_steps=2, precision="32-true")
    fit(config, progress=False, stop_after_steps=4)
    last = run_folder(config) / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(CacheError, match="unreadable.*delete"):
        fit(config, progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_cache_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(CacheError, match="cannot write"):
        cache.write("estimate", {"x": 1}, lambda f: {}, root=folder)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_read_only_or_full_file_system(tmp_path, monkeypatch, code):
    """As root, permissions cannot make a folder read-only, so the file system's refusal is simulated."""

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("pixelcnn.study.cache.tempfile.mkdtemp", refuse)
    with pytest.raises(CacheError, match=f"cannot write.*{os.strerror(code)}"):
        cache.write("estimate", {"x": code}, lambda f: {}, root=tmp_path / "cache")
    assert cache.lookup("estimate", {"x": code}, root=tmp_path / "cache") is None


def test_unwritable_cache_location(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.raises(CacheError, match="cannot write"):
        cache.write("estimate", {"x": 1}, lambda f: {}, root=blocker / "cache")


# ---- faults ----------------------------------------------------------------------------------------

TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    from pixelcnn.study.config import Config
    from pixelcnn.study.training import train
    config = Config(channels=8, layers=2, train_images=512, eval_images=64, batch_size=16, max_steps=int(sys.argv[1]),
                    warmup_steps=2, precision="32-true")
    entry = train(config, progress=False)
    print("ENTRY", entry.folder)
""")


def run_training(cache_dir: Path, steps: int, **popen) -> subprocess.Popen:
    env = {**os.environ, "PIXELCNN_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(steps)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, **popen)


def test_training_killed_at_random_points_resumes_and_finishes(tmp_path):
    steps, cache_dir = 600, tmp_path / "cache"
    rng = random.Random(0)
    for _ in range(3):
        process = run_training(cache_dir, steps)
        deadline = time.time() + 120
        while not list(cache_dir.glob("runs/*/checkpoints/*.ckpt")) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))  # a random point after the first checkpoint
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not list(cache_dir.glob("train-*")), "a killed run must not leave an entry"
    process = run_training(cache_dir, steps)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0 and "ENTRY" in out
    (folder,) = cache_dir.glob("train-*")
    config = json.loads((folder / "manifest.json").read_text())["config"]
    entry = cache.lookup("train", config, root=cache_dir)  # verifies every file hash
    assert entry.metrics["train_images"] == steps * 16  # every step counted once across the kills
    assert not list(cache_dir.glob(".train-*")), "no half-written entry is left behind"


def test_two_processes_computing_one_entry_do_not_corrupt_it(tmp_path):
    cache_dir = tmp_path / "cache"
    first, second = run_training(cache_dir, 30), run_training(cache_dir, 30)
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert all("ENTRY" in out for out in outs)
    assert len({line for out in outs for line in out.splitlines() if line.startswith("ENTRY")}) == 1
    entries = list(cache_dir.glob("train-*"))
    assert len(entries) == 1 and not list(cache_dir.glob(".train-*"))


def test_same_seed_and_config_give_identical_results(tmp_path, monkeypatch):
    from pixelcnn.study.training import train

    config = Config(channels=8, layers=2, train_images=128, eval_images=32, batch_size=16, max_steps=6,
                    warmup_steps=2, precision="32-true")
    weights = []
    for run in ("a", "b"):
        monkeypatch.setenv("PIXELCNN_CACHE", str(tmp_path / run))
        entry = train(config, progress=False)
        weights.append(torch.load(entry.path("model.pt"), weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    a, b = (sample(SMALL, 3, size=(4, 4), generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a, b)
