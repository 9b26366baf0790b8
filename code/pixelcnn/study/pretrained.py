"""The course's pretrained gated PixelCNN (Lightning 0.9 checkpoint, state_dict only).

Its path is ``$PIXELCNN_PRETRAINED`` when that is set; otherwise it is looked for at
``../shared/pretrained/PixelCNN.ckpt`` beside the repository, then in the user cache
(``~/.cache/pixelcnn``). When it is missing it is downloaded from the course's public URL (to
``$PIXELCNN_PRETRAINED`` or the user cache) unless ``PIXELCNN_OFFLINE=1``. The file is the
course's: it is never copied into the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import torch

from ..core.models import GatedPixelCNN
from .settings import offline, project_root, sha256

URL = "https://raw.githubusercontent.com/phlippe/saved_models/main/tutorial12/PixelCNN.ckpt"
DOWNLOAD_TIMEOUT = 60  # seconds without an answer before the download is given up
SHA256 = "9464415fe5c4094b100a999506ee582e54871e05dd2639ec3c00794a758f597b"


class PretrainedError(RuntimeError):
    """The checkpoint is missing, corrupt or cannot be downloaded; the message says what to do."""


def candidates() -> list[Path]:
    """Where the checkpoint is looked for, in order; the last one is where it is downloaded to."""
    if os.environ.get("PIXELCNN_PRETRAINED"):
        return [Path(os.environ["PIXELCNN_PRETRAINED"]).expanduser()]
    return [project_root().parent / "shared" / "pretrained" / "PixelCNN.ckpt",
            Path.home() / ".cache" / "pixelcnn" / "PixelCNN.ckpt"]


def checkpoint_path(download: bool = True) -> Path:
    """A verified path to PixelCNN.ckpt, downloading it (to the last candidate) if needed."""
    for path in candidates():
        if path.is_file():
            if sha256(path) != SHA256:
                raise PretrainedError(f"{path} is not the course's PixelCNN.ckpt (sha256 mismatch); "
                                      f"delete it or point PIXELCNN_PRETRAINED at the right file")
            return path
    target = candidates()[-1]
    where = f"to {target}" if os.environ.get("PIXELCNN_PRETRAINED") else "and set PIXELCNN_PRETRAINED to its path"
    how = f"download {URL} {where} (looked in: {', '.join(str(p) for p in candidates())})"
    if not download or offline():
        why = " (PIXELCNN_OFFLINE=1: no download)" if download else ""
        raise PretrainedError(f"PixelCNN.ckpt not found{why}; {how}")
    _download(target, how)
    return target


def _download(target: Path, how: str) -> None:
    """Fetch the checkpoint to ``target`` through a ``.part`` file; a failure leaves nothing behind."""
    created = [p for p in reversed(target.parents) if not p.exists()]  # folders to remove on failure
    part = target.with_suffix(".part")
    print(f"downloading PixelCNN.ckpt from {URL} to {target}", file=sys.stderr)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(URL, timeout=DOWNLOAD_TIMEOUT) as response, open(part, "wb") as f:
            shutil.copyfileobj(response, f)
        if sha256(part) != SHA256:
            raise PretrainedError(f"the downloaded PixelCNN.ckpt has the wrong sha256; {how}")
        part.replace(target)
    except BaseException as error:
        part.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        if isinstance(error, OSError):
            reason = getattr(error, "reason", None) or error
            raise PretrainedError(f"PixelCNN.ckpt not found and the download failed ({reason}); {how}") from error
        raise


def load_pretrained(path: Path | None = None) -> GatedPixelCNN:
    """The course's gated PixelCNN with its trained weights, in eval mode on CPU."""
    path = Path(path) if path else checkpoint_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as error:
        raise PretrainedError(f"cannot read the checkpoint {path}: {error}") from error
    model = GatedPixelCNN(levels=256, channels=64)
    model.load_state_dict(state, strict=True)
    return model.eval()
