"""PixelCNN on 8-bit MNIST: models, data, training, sampling and inference for the report.

The package in four layers, each importing only those before it: ``core`` (the models and the algorithms:
torch and tqdm alone), ``study`` (data, named runs and budgets, training, the results cache, claims), the
chapters' modules ``q1``, ``q2``, ``q3``, and ``report`` (figures, the code listings, the notebook, the build).

The public names are imported on first use, so that ``python -m pixelcnn --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.models import bits_per_dim, build, count_parameters
    from .core.sampling import sample
    from .study.runs import load

__all__ = ["bits_per_dim", "build", "count_parameters", "load", "sample"]
_HOME = {"load": "study.runs", "bits_per_dim": "core.models", "build": "core.models",
         "count_parameters": "core.models", "sample": "core.sampling"}
_MODULES = {"core", "study", "q1", "q2", "q3", "report"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _MODULES)
