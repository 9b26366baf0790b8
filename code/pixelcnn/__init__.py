"""PixelCNN on 8-bit MNIST: models, data, training, sampling and inference for the report."""

from .models import bits_per_dim, build, count_parameters

__all__ = ["bits_per_dim", "build", "count_parameters"]
