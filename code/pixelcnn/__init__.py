"""PixelCNN on 8-bit MNIST: models, data, training, sampling and inference for the report.

The public names are imported on first use, so that ``python -m pixelcnn --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import bits_per_dim, build, count_parameters
    from .runs import load
    from .sampling import sample

__all__ = ["bits_per_dim", "build", "count_parameters", "load", "sample"]
_HOME = {"load": "runs", "bits_per_dim": "models", "build": "models", "count_parameters": "models",
         "sample": "sampling"}
_MODULES = {"benchmark", "blocks", "cache", "claims", "config", "data", "estimators", "explore", "explore_panel",
            "inference", "layers", "listing", "mcmc", "models", "notebook", "plots", "plots_mcmc", "pretrained",
            "provenance", "q1", "q1_findings", "q1_gates", "q1_training", "q2", "q3", "report", "runs", "sampling",
            "submission", "training"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _MODULES)
