"""The course's pretrained gated PixelCNN (Lightning 0.9 checkpoint, state_dict only).

Looked for at ``$PIXELCNN_PRETRAINED``, then ``../shared/pretrained/PixelCNN.ckpt`` beside the
repository, then the user cache (``~/.cache/pixelcnn``); downloaded there from the course's
public URL when it is nowhere. The file is the course's: it is never copied into the repository.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import torch

from .config import project_root
from .data import sha256
from .models import GatedPixelCNN

URL = "https://raw.githubusercontent.com/phlippe/saved_models/main/tutorial12/PixelCNN.ckpt"
SHA256 = "9464415fe5c4094b100a999506ee582e54871e05dd2639ec3c00794a758f597b"


class PretrainedError(RuntimeError):
    """The checkpoint is missing, corrupt or cannot be downloaded; the message says what to do."""


def candidates() -> list[Path]:
    paths = [Path(p) for p in [os.environ.get("PIXELCNN_PRETRAINED")] if p]
    return paths + [project_root().parent / "shared" / "pretrained" / "PixelCNN.ckpt",
                    Path.home() / ".cache" / "pixelcnn" / "PixelCNN.ckpt"]


def checkpoint_path(download: bool = True) -> Path:
    """A verified path to PixelCNN.ckpt, downloading it into the user cache if needed."""
    for path in candidates():
        if path.is_file():
            if sha256(path) != SHA256:
                raise PretrainedError(f"{path} is not the course's PixelCNN.ckpt (sha256 mismatch); "
                                      f"delete it or point PIXELCNN_PRETRAINED at the right file")
            return path
    target = candidates()[-1]
    how = (f"download {URL} and set PIXELCNN_PRETRAINED to its path "
           f"(looked in: {', '.join(str(p) for p in candidates())})")
    if not download:
        raise PretrainedError(f"PixelCNN.ckpt not found; {how}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    try:
        urllib.request.urlretrieve(URL, part)
    except OSError as error:
        raise PretrainedError(f"PixelCNN.ckpt not found and the download failed ({error}); {how}") from error
    if sha256(part) != SHA256:
        part.unlink()
        raise PretrainedError(f"the downloaded PixelCNN.ckpt has the wrong sha256; {how}")
    part.replace(target)
    return target


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
