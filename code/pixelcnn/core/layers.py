"""Causal convolutions for the vertical and horizontal stacks of a PixelCNN.

Two exact formulations of the same functions:

* ``MaskedConv``: a full k x k (or 1 x k) kernel multiplied by a 0/1 mask (the gated model's
  pretrained checkpoint stores its weights this way).
* ``ShiftedConv``: only the kernel's unmasked part, with one-sided zero padding, so no
  arithmetic is spent on masked zeros.

The vertical stack at row r sees rows above r (and row r itself unless ``mask_center``);
the horizontal stack at column c sees columns left of c (and c itself unless ``mask_center``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stack_mask(direction: str, kernel_size: int, mask_center: bool) -> torch.Tensor:
    """The 0/1 mask of a vertical (k x k) or horizontal (1 x k) stack kernel."""
    k, half = kernel_size, kernel_size // 2
    if direction == "vertical":
        mask = torch.ones(k, k)
        mask[half + 1 :, :] = 0
        if mask_center:
            mask[half, :] = 0
    elif direction == "horizontal":
        mask = torch.ones(1, k)
        mask[0, half + 1 :] = 0
        if mask_center:
            mask[0, half] = 0
    else:
        raise ValueError(f"direction must be 'vertical' or 'horizontal', got {direction!r}")
    return mask


def _check_kernel(kernel_size: int, mask_center: bool) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if mask_center and kernel_size < 3:
        raise ValueError(f"a kernel with its centre masked needs kernel_size >= 3, got {kernel_size}")


class MaskedConv(nn.Module):
    """Convolution whose kernel is multiplied by a fixed mask (the checkpoint's formulation)."""

    def __init__(self, c_in: int, c_out: int, direction: str, kernel_size: int = 3,
                 mask_center: bool = False, dilation: int = 1) -> None:
        super().__init__()
        _check_kernel(kernel_size, mask_center)
        mask = stack_mask(direction, kernel_size, mask_center)
        kh, kw = mask.shape
        padding = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
        self.conv = nn.Conv2d(c_in, c_out, (kh, kw), padding=padding, dilation=dilation)
        self.register_buffer("mask", mask[None, None])
        self.reach = dilation * (kernel_size // 2)  # rows above (vertical) / columns left (horizontal) it sees

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv2d(x, c.weight * self.mask, c.bias, padding=c.padding, dilation=c.dilation)

    def kept_weight(self) -> torch.Tensor:
        """The kernel's unmasked part (its top-left block): the weight of the equivalent ``ShiftedConv``."""
        mask = self.mask[0, 0]
        return (self.conv.weight * self.mask)[..., : int(mask.any(1).sum()), : int(mask.any(0).sum())]


class ShiftedConv(nn.Module):
    """The same function as ``MaskedConv`` with only the unmasked part of the kernel."""

    def __init__(self, c_in: int, c_out: int, direction: str, kernel_size: int = 3,
                 mask_center: bool = False, dilation: int = 1) -> None:
        super().__init__()
        _check_kernel(kernel_size, mask_center)
        half = kernel_size // 2
        kept = half if mask_center else half + 1  # rows (vertical) or columns (horizontal) kept
        if direction == "vertical":
            shape, padding = (kept, kernel_size), (dilation * half, dilation * half)
        elif direction == "horizontal":
            shape, padding = (1, kept), (0, dilation * half)
        else:
            raise ValueError(f"direction must be 'vertical' or 'horizontal', got {direction!r}")
        self.direction, self.kernel_size, self.mask_center = direction, kernel_size, mask_center
        self.reach = dilation * half  # rows above (vertical) / columns left (horizontal) it sees
        # Symmetric padding, then the first H rows / W columns of the output: those are the ones
        # whose kernel ends at the output pixel. (Padding only the top/left with F.pad computes the
        # same but copies the input, which measured slower.)
        self.conv = nn.Conv2d(c_in, c_out, shape, padding=padding, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.conv(x)[..., :h, :w]

    def kept_weight(self) -> torch.Tensor:
        """The kernel (only its unmasked part is stored)."""
        return self.conv.weight

    @torch.no_grad()
    def copy_from_masked(self, masked: MaskedConv) -> None:
        """Take the unmasked weights of an equivalent ``MaskedConv``."""
        rows, cols = self.conv.weight.shape[-2:]
        self.conv.weight.copy_(masked.conv.weight[..., :rows, :cols])
        self.conv.bias.copy_(masked.conv.bias)


def stack_conv(c_in: int, c_out: int, direction: str, kernel_size: int = 3, mask_center: bool = False,
               dilation: int = 1, shifted: bool = True) -> nn.Module:
    """A vertical or horizontal stack convolution, shifted (fast) or masked (checkpoint form)."""
    cls = ShiftedConv if shifted else MaskedConv
    return cls(c_in, c_out, direction, kernel_size, mask_center, dilation)


def as_matrix(conv: nn.Module) -> torch.Tensor:
    """A 1 x K kernel (a horizontal stack or a 1x1 convolution) as a matrix [K * C_in, C_out] that
    multiplies the K input columns it reaches, laid out channel-last and flattened."""
    weight = conv.kept_weight() if hasattr(conv, "kept_weight") else conv.weight
    return weight[:, :, 0].permute(2, 1, 0).reshape(-1, weight.shape[0])


def bias_of(conv: nn.Module) -> torch.Tensor:
    """The bias [C_out] of a stack convolution or of a plain one."""
    return (conv.conv if hasattr(conv, "kept_weight") else conv).bias
