"""Claims the report's prose makes, checked on the data it reports.

A chapter's module declares each claim as a function of its findings, decorated with ``@claim``; the
docstring quotes the sentence it guards. ``check(module, **findings)`` runs every claim of the module
whose findings are given: the report calls it at render time (one call per section) and
``tests/test_claims.py`` against the committed cache. Claims are about the full profile's results;
with the smoke profile's tiny runs they are not checked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType


class ClaimError(AssertionError):
    """A sentence of the report is not borne out by the results it reports."""


def claim(function: Callable[..., bool]) -> Callable[..., bool]:
    """Mark ``function(findings...) -> bool`` as a claim of its module (its docstring: the sentence)."""
    function.is_claim = True
    return function


def claims_of(module: ModuleType) -> list[Callable[..., bool]]:
    """The claims a module declares, in the order they are written."""
    found = [f for f in vars(module).values() if callable(f) and getattr(f, "is_claim", False)]
    return sorted(found, key=lambda f: inspect.getsourcelines(f)[1])


def check(module: ModuleType, **findings) -> list[str]:
    """Run every claim of ``module`` whose parameters are all among ``findings``; raise ClaimError naming
    each one that fails. Returns the names of the claims checked (none with the smoke profile)."""
    from .runs import profile

    if profile() != "full":
        return []
    checked, failed = [], []
    for function in claims_of(module):
        names = list(inspect.signature(function).parameters)
        if not set(names) <= set(findings):
            continue
        checked.append(function.__name__)
        if not function(*(findings[name] for name in names)):
            failed.append(f"{function.__name__}: {inspect.getdoc(function)}")
    if failed:
        raise ClaimError("claims of the report that the results do not bear out:\n" + "\n".join(failed))
    return checked
