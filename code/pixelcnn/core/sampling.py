"""Sampling from a PixelCNN: unconditional samples and completions of a fixed raster prefix.

One entry point, ``sample``. Two exact methods:

* ``naive``: one full forward pass per pixel (the reference).
* ``fast`` (default): incremental, in the spirit of Ramachandran et al. (2017). Every layer's
  activations are cached and each is computed once: a layer's vertical stack one image row at a
  time (it sees only rows above), its horizontal stack one pixel at a time from the few cached
  columns its kernel reaches. The kernels are taken from the model once, as matrices, so a pixel
  step is a handful of small matrix products per layer. It gives the same logits as ``naive`` at
  every step (up to float rounding), and the same samples under the same random stream.

Each step draws one uniform number per image from ``generator`` and inverts the CDF in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import rng
from .layers import as_matrix, bias_of
from .models import PixelCNNBase, check_images, device_of


def sample(model: PixelCNNBase, n: int | None = None, *, images: torch.Tensor | None = None, start: int = 0,
           stop: int | None = None, size: tuple[int, int] = (28, 28), generator: torch.Generator | None = None,
           method: str = "fast", progress: bool = False, temperature: float = 1.0,
           device: torch.device | str | None = None) -> torch.Tensor:
    """Sample pixels ``start .. stop-1`` (raster order) of each image; earlier pixels stay fixed.

    Give ``n`` for unconditional samples of ``size``, or ``images`` (long [B, 1, H, W]) with
    ``start`` = the number of known leading pixels to complete them. Pixels from ``stop`` on (default:
    none) are left zero. Runs on ``device`` (default: the model's; the model is moved there); the
    random numbers come from ``generator`` on its own device, so samples do not depend on where they
    are computed (``rng``). Returns long [B, 1, H, W] where ``images`` are (the CPU for unconditional samples).
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
    device = torch.device(device) if device is not None else device_of(model)
    model.to(device)
    home, x = images.device, images.to(device, torch.long, copy=True)
    x.view(len(x), -1)[:, start:] = 0  # unknown pixels are zero until drawn (the non-causal model sees them)
    was_training = model.training
    model.eval()
    steps = tqdm(total=stop - start, desc=f"sampling ({method})", disable=not progress)
    generator = rng.or_default(generator)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(-1)
        u = torch.rand(len(logits), 1, generator=generator, dtype=torch.float64, device=generator.device)
        steps.update(1)
        return torch.searchsorted(cdf, u.to(device) * cdf[:, -1:]).clamp(max=model.levels - 1).squeeze(1)

    threads = torch.get_num_threads()
    if method == "fast" and device.type == "cpu":
        # A pixel step is a few small matrix products: more threads add only synchronisation, which on a
        # busy CPU costs far more than the work itself (measured: up to 100x slower with 2 threads).
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            (_fast if method == "fast" else _naive)(model, x, start, stop, draw)
    finally:
        torch.set_num_threads(threads)
    steps.close()
    model.train(was_training)
    return x.to(home)


def _naive(model: PixelCNNBase, x: torch.Tensor, start: int, stop: int, draw) -> None:
    width = x.shape[-1]
    for i in range(start, stop):
        r, c = divmod(i, width)
        x[:, 0, r, c] = draw(model(x)[:, :, 0, r, c])


def _vertical_row(conv: nn.Module, weight: torch.Tensor, v: torch.Tensor, q: int) -> torch.Tensor:
    """A vertical stack convolution's output row [B, C_out, 1, W] at row ``q`` of ``v``, whose top
    rows are zero padding: one convolution over just the rows its kernel reaches."""
    d, rows, cols = conv.conv.dilation[0], weight.shape[-2], weight.shape[-1]
    top = q - conv.reach
    return F.conv2d(v[:, :, top: top + d * (rows - 1) + 1], weight, bias_of(conv), padding=(0, d * (cols // 2)),
                    dilation=d)


def _fast(model: PixelCNNBase, x: torch.Tensor, start: int, stop: int, draw) -> None:
    """Pixels ``start .. stop-1`` of ``x`` [B, 1, H, W] drawn in place, one row of every layer's vertical stack
    and one pixel of its horizontal stack at a time (through the ``models.StackLayer`` interface)."""
    if stop == start:
        return
    batch, (height, width) = len(x), x.shape[-2:]
    layers = list(model.layers)
    vertical_convs = [model.vertical_in] + [layer.vertical_conv for layer in layers]
    vertical_weights = [conv.kept_weight() for conv in vertical_convs]
    # Per layer: the horizontal convolution's matrix, dilation, reach and taps, and the step after it.
    horizontal = [(as_matrix(layer.horizontal_conv), layer.horizontal_conv.conv.dilation[1],
                   layer.horizontal_conv.reach, layer.horizontal_conv.kept_weight().shape[-1], layer.pixel_step())
                  for layer in layers]
    first = model.horizontal_in
    first_matrix, first_bias, first_taps, first_reach = (as_matrix(first), bias_of(first),
                                                         first.kept_weight().shape[-1], first.reach)
    sees_itself = first_taps - 1 == first_reach  # the non-causal model's first layer sees the pixel it predicts
    head_matrix, head_bias = as_matrix(model.head_conv), bias_of(model.head_conv)

    # Caches. Vertical stacks: every row, channel-first, with `top` zero rows above the image. Horizontal
    # stacks: the current row only, channel-last [B, left + W, C], with `left` zero columns before it.
    top = max(conv.reach for conv in vertical_convs)
    left = max([first_reach] + [reach for _, _, reach, _, _ in horizontal])
    xs = F.pad(model.scale(x), (0, 0, top, 0))
    channels = vertical_weights[0].shape[0]  # every layer's stacks keep the first layer's channels
    vs = [xs.new_zeros(batch, channels, top + height, width) for _ in vertical_weights]
    x_row = xs.new_zeros(batch, left + width)
    h_rows = [xs.new_zeros(batch, left + width, channels) for _ in vertical_weights]
    to_h = [None] * len(layers)  # per layer, the vertical stack's input to the horizontal one [B, W, C]

    def vertical_row(r: int) -> None:
        q = top + r
        vs[0][:, :, q:q + 1] = _vertical_row(model.vertical_in, vertical_weights[0], xs, q)
        for i, layer in enumerate(layers):
            features = _vertical_row(layer.vertical_conv, vertical_weights[i + 1], vs[i], q)
            vs[i + 1][:, :, q:q + 1], to_horizontal = layer.vertical_step(vs[i][:, :, q:q + 1], features)
            # the horizontal convolution's bias is added here once per row instead of once per pixel
            to_h[i] = (to_horizontal + bias_of(layer.horizontal_conv)[:, None, None])[:, :, 0].transpose(1, 2)
            to_h[i] = to_h[i].contiguous()

    def column(c: int) -> torch.Tensor:
        """Every layer's horizontal stack at column c of the current row (into the cache); the last one."""
        p = left + c
        h = torch.addmm(first_bias, x_row[:, p - first_reach: p - first_reach + first_taps], first_matrix)
        h_rows[0][:, p] = h
        for i, (matrix, d, reach, taps, step) in enumerate(horizontal):
            taps_in = h_rows[i][:, p - reach: p - reach + d * (taps - 1) + 1: d].reshape(batch, -1)
            h = step(h, torch.addmm(to_h[i][:, c], taps_in, matrix))
            h_rows[i + 1][:, p] = h
        return h

    first_row, last_row = start // width, (stop - 1) // width
    for r in range(last_row + 1):
        vertical_row(r)  # rows above r are final here
        if r < first_row:
            continue
        x_row[:, left:] = xs[:, 0, top + r]
        v_last = vs[-1][:, :, top + r].transpose(1, 2)  # [B, W, C]
        for c in range(min(width, stop - r * width)):
            h = column(c)
            if r * width + c < start:
                continue  # a known pixel: its column is cached for the pixels after it
            logits = torch.addmm(head_bias, model.head_input(v_last[:, c], h), head_matrix)
            value = draw(logits)
            x[:, 0, r, c] = value
            xs[:, 0, top + r, c] = x_row[:, left + c] = value.float() / (model.levels - 1) * 2 - 1
            if sees_itself:
                column(c)  # its input at column c was the placeholder zero; later pixels see the drawn value
