"""The command line: each documented bad input gives a short message and exit status 1, no traceback.

Each bad input runs as a real ``python -m pixelcnn`` process; ``--help`` is checked not to import torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pixelcnn
from pixelcnn.__main__ import main
from pixelcnn.study.data import MNIST_SHA256, ensure_mnist, raw_dir

CODE = Path(pixelcnn.__file__).resolve().parents[1]

# name: (arguments, extra environment ({tmp} is a fresh folder), words the message must contain)
BAD_INPUTS = {
    "unknown run to train": (["train", "nonexistent-run"], {}, "unknown run 'nonexistent-run'; known runs: "),
    "unknown run to evaluate": (["evaluate", "nonexistent-run"], {}, "unknown run 'nonexistent-run'"),
    "missing cache entry": (["evaluate", "q1"], {"PIXELCNN_CACHE": "{tmp}/cache"},
                            "missing cache entry train-"),
    "missing checkpoint": (["evaluate", "pretrained"],
                           {"PIXELCNN_PRETRAINED": "{tmp}/PixelCNN.ckpt", "PIXELCNN_OFFLINE": "1"},
                           "PixelCNN.ckpt not found"),
    "bad profile": (["train", "q1"], {"PIXELCNN_PROFILE": "quick"}, "PIXELCNN_PROFILE must be one of full, smoke"),
    "missing data": (["data"], {"PIXELCNN_DATA": "{tmp}/nothing", "PIXELCNN_OFFLINE": "1"},
                     "MNIST files missing"),
    "corrupt data": (["data"], {"PIXELCNN_DATA": "{tmp}/corrupt"}, "t10k-labels-idx1-ubyte is corrupt"),
    "compute argument of the wrong type": (["compute", "q3-tempering", "d", "abc"], {},
                                           "argument 2 (seed) is 'abc', it should be a whole number"),
    "compute arguments too many": (["compute", "q3-heldout", "x"], {}, "q3-heldout takes no arguments"),
    "compute arguments too few": (["compute", "q3-tempering"], {},
                                  "q3-tempering takes (question: str, seed: int = 0, particles: int | None = None): "
                                  "1 to 3 argument(s), not 0"),
    "compute an unknown question": (["compute", "q3-chains", "x"], {}, "unknown question 'x'; known: d, g"),
}
FIXES = {"missing cache entry": "python -m pixelcnn train q1", "missing checkpoint": "download https://",
         "missing data": "make data", "corrupt data": "Delete it"}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env,
                   "PYTHONPATH": os.pathsep.join([str(CODE), os.environ.get("PYTHONPATH", "")])}
    for name in ("PIXELCNN_DEBUG", "PIXELCNN_TRAIN"):
        environment.pop(name, None)
    return subprocess.run([sys.executable, *args], env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture
def corrupt_data(tmp_path) -> Path:
    """A data folder whose test labels are truncated (the other files link to the real ones)."""
    source, corrupt = raw_dir(ensure_mnist()), raw_dir(tmp_path / "corrupt")
    corrupt.mkdir(parents=True)
    for name in MNIST_SHA256:
        (corrupt / name).symlink_to(source / name)
    labels = corrupt / "t10k-labels-idx1-ubyte"
    labels.unlink()
    labels.write_bytes((source / labels.name).read_bytes()[:100])
    return tmp_path / "corrupt"


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_exit_status_1(tmp_path, corrupt_data, name):
    args, env, words = BAD_INPUTS[name]
    result = cli(["-m", "pixelcnn", *args], {k: v.format(tmp=tmp_path) for k, v in env.items()})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("python -m pixelcnn: error: ") and words in lines[-1]
    assert FIXES.get(name, "") in lines[-1]


def test_debug_flag_shows_the_traceback():
    result = cli(["-m", "pixelcnn", "--debug", "train", "nonexistent-run"], {})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "unknown run" in result.stderr


def test_usage_errors_keep_argparse_status_2():
    result = cli(["-m", "pixelcnn", "fly"], {})
    assert result.returncode == 2 and "invalid choice: 'fly'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_does_not_import_torch():
    result = cli(["-X", "importtime", "-m", "pixelcnn", "--help"], {})
    assert result.returncode == 0 and "evaluate" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "pixelcnn" in imported and "torch" not in imported


def test_debug_variable_lets_the_error_through(monkeypatch):
    monkeypatch.setenv("PIXELCNN_DEBUG", "1")
    with pytest.raises(ValueError, match="unknown run"):
        main(["evaluate", "nonexistent-run"])


def test_unexpected_error_names_its_type_and_how_to_see_more(monkeypatch, capsys):
    def broken(args):
        raise KeyError("weights")

    monkeypatch.setattr("pixelcnn.__main__.run", broken)
    with pytest.raises(SystemExit) as exit_:
        main(["data"])
    assert exit_.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "KeyError: 'weights'" in lines[0] and "--debug" in lines[1]


def test_compute_arguments_are_converted_by_their_declared_types():
    from pixelcnn.__main__ import compute_arguments
    from pixelcnn.study import cache

    declared = cache.declared()
    assert compute_arguments(declared["q3-tempering"], ["d", "1", "8"]) == ["d", 1, 8]
    assert compute_arguments(declared["q2-own-values"], ["3", "10,12"]) == [3, (10, 12)]
    with pytest.raises(ValueError, match=r"argument 1 \(image\) is 'x', it should be a whole number"):
        compute_arguments(declared["q2-own-values"], ["x"])
