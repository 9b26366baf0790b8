"""PixelCNN on 8-bit MNIST: models, data, training, sampling and inference for the report."""

from .experiments import load
from .models import bits_per_dim, build, count_parameters
from .sampling import sample

__all__ = ["bits_per_dim", "build", "count_parameters", "load", "sample"]
