"""Training on several processes (DDP over gloo on the CPU) through the command line, killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import torch

from pixelcnn.study import cache

# The command line with one extra tiny run; Lightning's launcher re-runs this script for rank 1.
SCRIPT = textwrap.dedent("""
    from pixelcnn.study import runs
    from pixelcnn.__main__ import main
    from pixelcnn.study.config import Config

    runs.RUNS["ddp-test"] = Config(channels=8, layers=2, train_images=512, eval_images=64, batch_size=16,
                                   max_steps=40, warmup_steps=2, precision="32-true")
    main()
""")


def test_two_process_training_writes_one_entry_and_resumes_after_a_kill(tmp_path):
    script, cache_dir = tmp_path / "train.py", tmp_path / "cache"
    script.write_text(SCRIPT)
    env = {**os.environ, "PIXELCNN_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(script), "train", "ddp-test", "--devices", "2", "--accelerator", "cpu",
               "--strategy", "ddp"]

    # First run: killed (both processes, SIGKILL) once its first checkpoint is readable.
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline, step = time.time() + 300, None
    while step is None and time.time() < deadline and process.poll() is None:
        for path in cache_dir.glob("runs/*/checkpoints/last.ckpt"):
            try:
                step = torch.load(path, map_location="cpu", weights_only=False)["global_step"]
            except Exception:  # still being written
                pass
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert step is not None and 0 < step < 40, "the first run must be killed after a checkpoint, before its end"
    assert not list(cache_dir.glob("train-*")), "a killed run leaves no entry"

    # Second run: resumes from that checkpoint and publishes exactly one entry, from rank 0.
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len([line for line in done.stdout.splitlines() if line.startswith("ddp-test:")]) == 1
    (folder,) = cache_dir.glob("train-*")
    assert not list(cache_dir.glob(".train-*")), "no half-written entry is left behind"
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = cache.lookup("train", manifest["config"], root=cache_dir)  # verifies every file hash
    m = entry.metrics
    assert m["world_size"] == 2 and m["effective_batch_size"] == 32 and m["strategy"] == "DDPStrategy"
    assert m["train_images"] == 40 * 32  # every step of both processes counted once across the kill
    (resumed_at,) = m["resumed_at_steps"]  # continued from the killed run's checkpoint, not from scratch
    assert step <= resumed_at < 40 and 0 < m["test_bpd"] < 8.5
    assert pd.read_csv(entry.path("metrics.csv")).dropna(subset=["train_bpd"])["step"].is_unique
