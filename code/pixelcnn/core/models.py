"""The PixelCNN family: ``simple`` (Q1), ``noncausal`` (Q2) and ``gated`` (the course's model).

Every model maps a LongTensor ``x`` of shape [B, 1, H, W] with values in 0..levels-1 to logits of
shape [B, levels, 1, H, W]; for the causal models ``log_softmax(dim=1)`` at pixel i is
log p(x_i | x_<i) in raster order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MaskedConv, stack_conv

# Each architecture's options: the keyword arguments of ``models.build``, with their defaults. The one
# list of them: ``Config.model_kwargs`` takes these fields, ``check_model_options`` checks them.
_SIMPLE = {"levels": 256, "channels": 64, "layers": 5, "kernel_size": 3, "first_kernel_size": 7, "residual": True,
           "shifted": True}
MODEL_OPTIONS = {"simple": _SIMPLE, "noncausal": _SIMPLE, "gated": {"levels": 256, "channels": 64}}
ARCHS = tuple(MODEL_OPTIONS)


def check_model_options(arch: str, options: dict, min_layers: int = 0) -> None:
    """Raise ValueError unless ``options`` are valid options of architecture ``arch``."""
    if arch not in MODEL_OPTIONS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    unknown = sorted(set(options) - set(MODEL_OPTIONS[arch]))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for arch {arch!r}; allowed: {sorted(MODEL_OPTIONS[arch])}")
    values = {**MODEL_OPTIONS[arch], **options}
    if not 2 <= values["levels"] <= 256 or values["channels"] < 1:
        raise ValueError(f"need 2 <= levels <= 256 and channels >= 1; got levels={values['levels']}, "
                         f"channels={values['channels']}")
    if arch == "gated":
        return
    if values["layers"] < min_layers:
        raise ValueError(f"need layers >= {min_layers}, got {values['layers']}")
    for name in ("kernel_size", "first_kernel_size"):
        if values[name] < 1 or values[name] % 2 == 0:
            raise ValueError(f"{name} must be a positive odd number, got {values[name]}")
    if values["first_kernel_size"] < 3:
        raise ValueError(f"first_kernel_size must be >= 3 (its centre is masked), got {values['first_kernel_size']}")

__all__ = ["ARCHS", "GatedPixelCNN", "SimplePixelCNN", "bits_per_dim", "build", "check_images", "count_parameters",
           "device_of"]


def check_images(x: torch.Tensor, levels: int) -> None:
    """Raise ValueError unless ``x`` is an integer tensor [B, 1, H, W] with values in 0..levels-1."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"expected integer pixel values (torch.long), got dtype {x.dtype}")
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"expected images of shape [B, 1, H, W] with H, W >= 1, got {tuple(x.shape)}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise ValueError(f"expected pixel values in 0..{levels - 1}, got range "
                         f"{int(x.min())}..{int(x.max())}")


class PixelCNNBase(nn.Module):
    """Shared structure: input scaling, first stack convolutions, layers, output head.

    Every layer splits into ``vertical_path(v) -> (v_next, to_horizontal)`` (rows above only) and
    ``horizontal_path(h, to_horizontal) -> h_next`` (the current row, columns to the left), so the
    fast sampler can update one row or one pixel at a time.
    """

    levels: int
    vertical_in: nn.Module
    horizontal_in: nn.Module
    layers: nn.ModuleList

    def head(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Logits [B, levels, H, W] from the last vertical and horizontal stacks."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scaled(self.scale(x))

    def forward_scaled(self, xs: torch.Tensor) -> torch.Tensor:
        """Logits [B, levels, 1, H, W] from pixels already scaled to [-1, 1] (differentiable in them)."""
        v, h = self.vertical_in(xs), self.horizontal_in(xs)
        for layer in self.layers:
            v, to_h = layer.vertical_path(v)
            h = layer.horizontal_path(h, to_h)
        return self.head(v, h).unsqueeze(2)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.levels)
        return x.float() / (self.levels - 1) * 2 - 1


class SimpleLayer(nn.Module):
    """One ungated, undilated layer: vertical conv, horizontal conv fed by the vertical stack."""

    def __init__(self, channels: int, kernel_size: int, residual: bool, shifted: bool) -> None:
        super().__init__()
        self.vertical = stack_conv(channels, channels, "vertical", kernel_size, shifted=shifted)
        self.horizontal = stack_conv(channels, channels, "horizontal", kernel_size, shifted=shifted)
        self.vertical_to_horizontal = nn.Conv2d(channels, channels, 1)
        self.residual = residual
        self.vertical_reach = self.vertical.reach  # rows above its output row the vertical path reads

    def vertical_path(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_out = F.elu(self.vertical(v))
        return (v + v_out if self.residual else v_out), self.vertical_to_horizontal(v_out)

    def horizontal_path(self, h: torch.Tensor, to_h: torch.Tensor) -> torch.Tensor:
        h_out = F.elu(self.horizontal(h) + to_h)
        return h + h_out if self.residual else h_out


class SimplePixelCNN(PixelCNNBase):
    """Q1: stacked masked convolutions with vertical and horizontal stacks, summed at the end.

    ``causal=False`` gives the Q2 model: the first horizontal convolution also sees the pixel it
    predicts, so the output at pixel i depends on x_<=i.
    """

    def __init__(self, levels: int = 256, channels: int = 64, layers: int = 5, kernel_size: int = 3,
                 first_kernel_size: int = 7, residual: bool = True, causal: bool = True,
                 shifted: bool = True) -> None:
        super().__init__()
        self.levels = levels
        self.vertical_in = stack_conv(1, channels, "vertical", first_kernel_size, mask_center=True, shifted=shifted)
        self.horizontal_in = stack_conv(1, channels, "horizontal", first_kernel_size, mask_center=causal,
                                        shifted=shifted)
        self.layers = nn.ModuleList(SimpleLayer(channels, kernel_size, residual, shifted) for _ in range(layers))
        self.out = nn.Conv2d(channels, levels, 1)

    def head(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.out(F.elu(v + h))  # the two stacks are summed after the last layer


class GatedLayer(nn.Module):
    """The course's gated layer (tanh * sigmoid gates, optional dilation), checkpoint-compatible."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_vert = MaskedConv(channels, 2 * channels, "vertical", 3, dilation=dilation)
        self.conv_horiz = MaskedConv(channels, 2 * channels, "horizontal", 3, dilation=dilation)
        self.conv_vert_to_horiz = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.conv_horiz_1x1 = nn.Conv2d(channels, channels, 1)
        self.vertical_reach = self.conv_vert.reach

    def vertical_path(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_feat = self.conv_vert(v)
        v_val, v_gate = v_feat.chunk(2, dim=1)
        return torch.tanh(v_val) * torch.sigmoid(v_gate), self.conv_vert_to_horiz(v_feat)

    def horizontal_path(self, h: torch.Tensor, to_h: torch.Tensor) -> torch.Tensor:
        h_val, h_gate = (self.conv_horiz(h) + to_h).chunk(2, dim=1)
        return self.conv_horiz_1x1(torch.tanh(h_val) * torch.sigmoid(h_gate)) + h


class GatedPixelCNN(PixelCNNBase):
    """The course's PixelCNN: 7 gated layers with dilations 1,2,1,4,1,2,1 (loads its checkpoint)."""

    DILATIONS = (1, 2, 1, 4, 1, 2, 1)

    def __init__(self, levels: int = 256, channels: int = 64) -> None:
        super().__init__()
        self.levels = levels
        self.conv_vstack = MaskedConv(1, channels, "vertical", 3, mask_center=True)
        self.conv_hstack = MaskedConv(1, channels, "horizontal", 3, mask_center=True)
        self.conv_layers = nn.ModuleList(GatedLayer(channels, d) for d in self.DILATIONS)
        self.conv_out = nn.Conv2d(channels, levels, 1)

    # The checkpoint's module names, under the names the base class and the sampler use.
    vertical_in = property(lambda self: self.conv_vstack)
    horizontal_in = property(lambda self: self.conv_hstack)
    layers = property(lambda self: self.conv_layers)

    def head(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.elu(h))


def build(arch: str, **options) -> PixelCNNBase:
    """An untrained model of architecture ``arch`` ("simple", "noncausal" or "gated"); ``options`` are
    those of ``config.MODEL_OPTIONS[arch]``, checked there."""
    check_model_options(arch, options)
    if arch == "gated":
        return GatedPixelCNN(**options)
    return SimplePixelCNN(causal=arch == "simple", **options)


def device_of(model: nn.Module) -> torch.device:
    """The device a model's parameters are on."""
    return next(model.parameters()).device


def bits_per_dim(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each image in bits per pixel: a Tensor of shape [B].

    It is differentiable on purpose: training minimises its mean (``training.PixelCNNModule``, the
    benchmark). To only evaluate, call it under ``torch.no_grad()`` (as ``training.evaluate`` does),
    which returns a tensor without a graph.
    """
    nll = F.cross_entropy(model(x).float(), x.long(), reduction="none")  # [B, 1, H, W] in nats
    return nll.flatten(1).mean(1) / math.log(2)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
