"""Sampling from a PixelCNN: unconditional samples and completions of a fixed raster prefix.

One entry point, ``sample``. Two exact methods:

* ``naive``: one full forward pass per pixel (the reference).
* ``fast`` (default): keeps every layer's vertical stack as a per-row cache, updates it once per
  image row, and per pixel recomputes only the horizontal stack of the current row up to that
  pixel (Ramachandran et al. 2017 in spirit). It gives the same logits as ``naive`` at every step,
  and the same samples under the same random stream.

Each step draws one uniform number per image from ``generator`` and inverts the CDF in float64.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .models import PixelCNNBase, check_images


def sample(model: PixelCNNBase, n: int | None = None, *, images: torch.Tensor | None = None, start: int = 0,
           stop: int | None = None, size: tuple[int, int] = (28, 28), generator: torch.Generator | None = None,
           method: str = "fast", progress: bool = False, temperature: float = 1.0) -> torch.Tensor:
    """Sample pixels ``start .. stop-1`` (raster order) of each image; earlier pixels stay fixed.

    Give ``n`` for unconditional samples of ``size``, or ``images`` (long [B, 1, H, W]) with
    ``start`` = the number of known leading pixels to complete them. Pixels from ``stop`` on (default:
    none) are left zero. Returns long [B, 1, H, W].
    """
    if images is None:
        if n is None or n < 1:
            raise ValueError(f"give a number of samples n >= 1 or images to complete, got n={n}")
        images = torch.zeros(n, 1, *size, dtype=torch.long)
    check_images(images, model.levels)
    height, width = images.shape[-2:]
    stop = height * width if stop is None else stop
    if not 0 <= start <= stop <= height * width:
        raise ValueError(f"need 0 <= start <= stop <= {height * width} (raster positions), got {start}, {stop}")
    if method not in ("fast", "naive"):
        raise ValueError(f"method must be 'fast' or 'naive', got {method!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    x = images.clone().long()
    x.view(len(x), -1)[:, start:] = 0  # unknown pixels are zero until drawn (the non-causal model sees them)
    was_training = model.training
    model.eval()
    steps = tqdm(total=stop - start, desc=f"sampling ({method})", disable=not progress)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(-1)
        u = torch.rand(len(logits), 1, generator=generator, dtype=torch.float64)
        steps.update(1)
        return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=model.levels - 1).squeeze(1)

    with torch.no_grad():
        (_fast if method == "fast" else _naive)(model, x, start, stop, draw)
    steps.close()
    model.train(was_training)
    return x


def _naive(model: PixelCNNBase, x: torch.Tensor, start: int, stop: int, draw) -> None:
    width = x.shape[-1]
    for i in range(start, stop):
        r, c = divmod(i, width)
        x[:, 0, r, c] = draw(model(x)[:, :, 0, r, c])


def _rows(v: torch.Tensor, r: int, reach: int) -> torch.Tensor:
    """Rows r-reach..r of v: all a vertical convolution needs for its output at row r."""
    return v[..., max(0, r - reach): r + 1, :]


def _fast(model: PixelCNNBase, x: torch.Tensor, start: int, stop: int, draw) -> None:
    height, width = x.shape[-2:]
    xs = model.scale(x)
    # Vertical stacks of every layer for all rows, from one pass: exact for every row whose
    # rows above are fixed (up to the row of `start`); later rows are updated as they are reached.
    vs, to_hs = [model.vertical_in(xs)], []
    for layer in model.layers:
        v, to_h = layer.vertical_path(vs[-1])
        vs.append(v)
        to_hs.append(to_h)
    first_row = start // width
    for r in range(first_row, (stop - 1) // width + 1 if stop > start else first_row):
        if r > first_row:
            vs[0][..., r:r + 1, :] = model.vertical_in(_rows(xs, r, model.vertical_in.reach))[..., -1:, :]
            for i, layer in enumerate(model.layers):
                v, to_h = layer.vertical_path(_rows(vs[i], r, layer.vertical_reach))
                vs[i + 1][..., r:r + 1, :] = v[..., -1:, :]
                to_hs[i][..., r:r + 1, :] = to_h[..., -1:, :]
        for c in range(start % width if r == first_row else 0, min(width, stop - r * width)):
            h = model.horizontal_in(xs[..., r:r + 1, : c + 1])
            for i, layer in enumerate(model.layers):
                h = layer.horizontal_path(h, to_hs[i][..., r:r + 1, : c + 1])
            logits = model.head(vs[-1][..., r:r + 1, c:c + 1], h[..., c:c + 1])
            value = draw(logits[:, :, 0, 0])
            x[:, 0, r, c] = value
            xs[..., r, c] = model.scale(x[..., r:r + 1, c:c + 1])[..., 0, 0]
