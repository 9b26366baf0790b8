"""The PixelCNN family: ``simple``, ``noncausal`` (its first layer sees the pixel it predicts) and ``gated``.

Every model maps a LongTensor ``x`` of shape [B, 1, H, W] with values in 0..levels-1 to logits of
shape [B, levels, 1, H, W]; for the causal models ``log_softmax(dim=1)`` at pixel i is
log p(x_i | x_<i) in raster order.

An architecture is one model class: its ``OPTIONS`` (keyword arguments and defaults, checked by its
``check_options``), first stack convolutions, ``StackLayer`` layers and head. The layers and the head
split into convolutions and the steps after them, so the incremental sampler (``sampling``) can run any
architecture one row or one pixel at a time. ``ARCHITECTURES`` names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MaskedConv, as_matrix, stack_conv

__all__ = ["ARCHITECTURES", "ARCHS", "MODEL_OPTIONS", "GatedPixelCNN", "NonCausalPixelCNN", "PixelCNNBase",
           "SimplePixelCNN", "StackLayer", "bits_per_dim", "build", "check_images", "check_model_options",
           "count_parameters", "device_of"]


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


class StackLayer(nn.Module):
    """One layer of the two stacks, each a stack convolution followed by a step.

    ``vertical_step`` works on any rows [B, C, R, W] of the vertical stack (rows above only), so the
    forward pass and the incremental sampler share it; ``pixel_step`` is ``horizontal_step`` on single
    pixels [B, C] of the horizontal stack.
    """

    vertical_conv: nn.Module  # a vertical stack convolution (``layers.MaskedConv`` or ``layers.ShiftedConv``)
    horizontal_conv: nn.Module  # a horizontal one, without its bias in ``horizontal_step``'s input (see below)

    def vertical_step(self, v: torch.Tensor, conv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(next vertical stack, input to the horizontal stack) from the stack ``v`` and ``vertical_conv(v)``."""
        raise NotImplementedError

    def horizontal_step(self, h: torch.Tensor, conv: torch.Tensor) -> torch.Tensor:
        """The next horizontal stack from the stack ``h`` and ``horizontal_conv(h)`` + the vertical input."""
        raise NotImplementedError

    def pixel_step(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``horizontal_step`` for single pixels h [B, C], conv [B, C'], its weights taken once (the sampler
        calls it at every pixel). The step itself when it is elementwise."""
        return self.horizontal_step

    def vertical_path(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vertical_step(v, self.vertical_conv(v))

    def horizontal_path(self, h: torch.Tensor, to_h: torch.Tensor) -> torch.Tensor:
        return self.horizontal_step(h, self.horizontal_conv(h) + to_h)


class PixelCNNBase(nn.Module):
    """Shared structure: input scaling, first stack convolutions, ``StackLayer`` layers, output head."""

    OPTIONS: ClassVar[dict[str, object]] = {"levels": 256, "channels": 64}  # keyword arguments, defaults
    levels: int
    vertical_in: nn.Module
    horizontal_in: nn.Module
    layers: nn.ModuleList
    head_conv: nn.Module  # a 1x1 convolution to the logits

    @classmethod
    def check_options(cls, values: dict, min_layers: int = 0) -> None:
        """Raise ValueError unless ``values`` (every option) are valid for this architecture."""
        if not 2 <= values["levels"] <= 256 or values["channels"] < 1:
            raise ValueError(f"need 2 <= levels <= 256 and channels >= 1; got levels={values['levels']}, "
                             f"channels={values['channels']}")

    def head_input(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The input of ``head_conv`` from the last vertical and horizontal stacks ([B, C, H, W] or [B, C])."""
        raise NotImplementedError

    def head(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Logits [B, levels, H, W] from the last vertical and horizontal stacks."""
        return self.head_conv(self.head_input(v, h))

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


class SimpleLayer(StackLayer):
    """One ungated, undilated layer: vertical conv, horizontal conv fed by the vertical stack."""

    def __init__(self, channels: int, kernel_size: int, residual: bool, shifted: bool) -> None:
        super().__init__()
        self.vertical = stack_conv(channels, channels, "vertical", kernel_size, shifted=shifted)
        self.horizontal = stack_conv(channels, channels, "horizontal", kernel_size, shifted=shifted)
        self.vertical_to_horizontal = nn.Conv2d(channels, channels, 1)
        self.residual = residual
        self.vertical_reach = self.vertical.reach  # rows above its output row the vertical path reads

    vertical_conv = property(lambda self: self.vertical)
    horizontal_conv = property(lambda self: self.horizontal)

    def vertical_step(self, v: torch.Tensor, conv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_out = F.elu(conv)
        return (v + v_out if self.residual else v_out), self.vertical_to_horizontal(v_out)

    def horizontal_step(self, h: torch.Tensor, conv: torch.Tensor) -> torch.Tensor:
        h_out = F.elu(conv)
        return h + h_out if self.residual else h_out


class SimplePixelCNN(PixelCNNBase):
    """Stacked masked convolutions with vertical and horizontal stacks, summed at the end.

    ``causal=False`` gives the non-causal variant: the first horizontal convolution also sees the pixel
    it predicts, so the output at pixel i depends on x_<=i.
    """

    OPTIONS = {"levels": 256, "channels": 64, "layers": 5, "kernel_size": 3, "first_kernel_size": 7,
               "residual": True, "shifted": True}

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

    head_conv = property(lambda self: self.out)

    @classmethod
    def check_options(cls, values: dict, min_layers: int = 0) -> None:
        super().check_options(values, min_layers)
        if values["layers"] < min_layers:
            raise ValueError(f"need layers >= {min_layers}, got {values['layers']}")
        for name in ("kernel_size", "first_kernel_size"):
            if values[name] < 1 or values[name] % 2 == 0:
                raise ValueError(f"{name} must be a positive odd number, got {values[name]}")
        if values["first_kernel_size"] < 3:
            raise ValueError(f"first_kernel_size must be >= 3 (its centre is masked), got "
                             f"{values['first_kernel_size']}")

    def head_input(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.elu(v + h)  # the two stacks are summed after the last layer


class NonCausalPixelCNN(SimplePixelCNN):
    """``SimplePixelCNN`` with ``causal=False``: not a likelihood, its output at pixel i sees x_i."""

    def __init__(self, **options) -> None:
        super().__init__(causal=False, **options)


class GatedLayer(StackLayer):
    """The gated layer (tanh * sigmoid gates, optional dilation), checkpoint-compatible."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_vert = MaskedConv(channels, 2 * channels, "vertical", 3, dilation=dilation)
        self.conv_horiz = MaskedConv(channels, 2 * channels, "horizontal", 3, dilation=dilation)
        self.conv_vert_to_horiz = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.conv_horiz_1x1 = nn.Conv2d(channels, channels, 1)
        self.vertical_reach = self.conv_vert.reach

    # The checkpoint's module names, under the names of the interface.
    vertical_conv = property(lambda self: self.conv_vert)
    horizontal_conv = property(lambda self: self.conv_horiz)

    def vertical_step(self, v: torch.Tensor, conv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gate(conv), self.conv_vert_to_horiz(conv)

    @staticmethod
    def gate(conv: torch.Tensor) -> torch.Tensor:
        """tanh(value) * sigmoid(gate) of the two halves of the channels [B, 2C, ...] -> [B, C, ...]."""
        value, gate = conv.chunk(2, dim=1)
        return torch.tanh(value) * torch.sigmoid(gate)

    def horizontal_step(self, h: torch.Tensor, conv: torch.Tensor) -> torch.Tensor:
        return self.conv_horiz_1x1(self.gate(conv)) + h

    def pixel_step(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        matrix, bias, gate = as_matrix(self.conv_horiz_1x1), self.conv_horiz_1x1.bias, self.gate
        return lambda h, conv: torch.addmm(bias, gate(conv), matrix) + h  # the 1x1 convolution as a product


class GatedPixelCNN(PixelCNNBase):
    """The gated PixelCNN (van den Oord et al., 2016) of the pretrained checkpoint: 7 gated layers with
    dilations 1,2,1,4,1,2,1."""

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
    head_conv = property(lambda self: self.conv_out)

    def head_input(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.elu(h)


# The architectures by name: a new one is a ``PixelCNNBase`` subclass and one line here.
ARCHITECTURES: dict[str, type[PixelCNNBase]] = {"simple": SimplePixelCNN, "noncausal": NonCausalPixelCNN,
                                                "gated": GatedPixelCNN}
ARCHS = tuple(ARCHITECTURES)
# Each architecture's options: the keyword arguments of ``build``, with their defaults.
MODEL_OPTIONS = {name: cls.OPTIONS for name, cls in ARCHITECTURES.items()}


def check_model_options(arch: str, options: dict, min_layers: int = 0) -> None:
    """Raise ValueError unless ``options`` are valid options of architecture ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    allowed = ARCHITECTURES[arch].OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for arch {arch!r}; allowed: {sorted(allowed)}")
    ARCHITECTURES[arch].check_options({**allowed, **options}, min_layers)


def build(arch: str, **options) -> PixelCNNBase:
    """An untrained model of architecture ``arch`` (a name in ``ARCHITECTURES``); ``options`` are those of
    ``MODEL_OPTIONS[arch]``, checked by ``check_model_options``."""
    check_model_options(arch, options)
    return ARCHITECTURES[arch](**options)


def device_of(model: nn.Module) -> torch.device:
    """The device a model's parameters are on."""
    return next(model.parameters()).device


def bits_per_dim(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each image in bits per pixel: a Tensor of shape [B].

    It is differentiable on purpose: training minimises its mean. To only evaluate, call it under
    ``torch.no_grad()``, which returns a tensor without a graph.
    """
    nll = F.cross_entropy(model(x).float(), x.long(), reduction="none")  # [B, 1, H, W] in nats
    return nll.flatten(1).mean(1) / math.log(2)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
