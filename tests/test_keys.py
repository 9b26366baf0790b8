"""Cache keys that cannot go stale: every cached result declares its inputs, and its key is made of them."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch

from pixelcnn import cache, explore, q1, q2, q3, q3_blocks, q3_hard, runs
from pixelcnn.config import project_root

# Each cached result kind: (cache kind, the function that declares its inputs).
DECLARED = {
    "q3 results": ("estimate", q3.results_inputs),
    "q3 reverse results": ("estimate", q3.reverse_inputs),
    "q3 held-out check": ("estimate", q3.heldout_inputs),
    "q3 tiny-model check": ("estimate", q3.convergence_inputs),
    "dependency maps": ("estimate", q2.dependency_inputs),
    "own-value sums": ("estimate", q2.own_value_inputs),
    "q3 MCMC chains (d)": ("estimate", lambda: q3_hard.chains_inputs("d")),
    "q3 MCMC chains (g)": ("estimate", lambda: q3_hard.chains_inputs("g")),
    "q3 (d) estimators over seeds": ("estimate", q3_hard.d_estimators_inputs),
    "q3 (g) independent pools": ("estimate", q3_hard.g_pools_inputs),
    "q3 tiny MCMC check": ("estimate", q3_hard.tiny_inputs),
    "equal-depth throughput": ("benchmark", q1.equal_depth_inputs),
    "q3 forward-model scores": ("estimate", q3_hard.scores_inputs),
    "q3 block-move chains (d)": ("estimate", lambda: q3_blocks.chains_inputs("d")),
    "q3 block-move chains (g)": ("estimate", lambda: q3_blocks.chains_inputs("g")),
    "q3 any conditioning image explored": ("estimate", explore.results_inputs),
}
COMPUTE = [q3._compute_results, q3._compute_reverse, q3._compute_heldout, q3._compute_convergence,
           q2._dependency_maps, q2._own_value_terms, runs._samples, runs._evaluation, q3_hard._compute_chains,
           q3_hard._compute_d_estimators, q3_hard._compute_g_pools, q3_hard._compute_scores,
           q3_blocks._compute_chains, explore._compute]


def leaves(value, path=()):
    """Every (path, leaf) of nested dicts and lists."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path, value


def changed(inputs: dict, path: tuple):
    """A copy of ``inputs`` with the leaf at ``path`` changed."""
    out = copy.deepcopy(inputs)
    target = out
    for key in path[:-1]:
        target = target[key]
    leaf = target[path[-1]]
    target[path[-1]] = (not leaf) if isinstance(leaf, bool) else (leaf + 1 if isinstance(leaf, int | float)
                                                                   else f"{leaf}-changed")
    return out


@pytest.mark.parametrize("name", DECLARED)
def test_changing_any_declared_input_changes_the_key(name):
    kind, declare = DECLARED[name]
    inputs = declare()
    paths = [path for path, _ in leaves(inputs)]
    assert len(paths) >= 4
    keys = {cache.entry_key(kind, changed(inputs, path)) for path in paths}
    assert cache.entry_key(kind, inputs) not in keys and len(keys) == len(paths)


def test_computations_see_only_their_declared_inputs():
    for compute in COMPUTE:
        assert list(inspect.signature(compute).parameters) == ["inputs"], compute.__name__


def test_results_declare_the_models_and_budgets_they_use():
    reverse = q3.reverse_inputs()
    assert reverse["reverse"] == runs.config("reverse").to_dict()
    assert reverse["results"] == q3.results_inputs()  # it scores the (g) completions of those results
    assert reverse["results"]["budget"]["completions"] == runs.budget()["q3"]["completions"]
    for question in ("d", "g"):
        chains = q3_hard.chains_inputs(question)
        assert chains["reverse"] == runs.config("reverse").to_dict() and chains["model"] == "pretrained"
    assert q3_hard.d_estimators_inputs()["images"] == q3_hard.chains_inputs("d")["images"]
    maps = q2.dependency_inputs()
    assert set(maps["models"]) == {"q1", "q2", "pretrained"}
    assert maps["models"]["q2"] == runs.config("q2").to_dict()


@pytest.mark.parametrize("name", DECLARED)
def test_the_committed_cache_holds_every_result_of_the_report(name, monkeypatch):
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)
    kind, declare = DECLARED[name]
    assert cache.lookup(kind, declare(), root=project_root() / "cache") is not None, f"{name}: no committed entry"


def fake_reverse(inputs: dict) -> dict:
    calls.append(inputs)
    n = inputs["results"]["budget"]["completions"]
    return {"d_reverse": torch.zeros(1), "d_reverse_is": torch.zeros(1), "d_reverse_is_ess": torch.zeros(1),
            "g_reverse": torch.zeros(n), "g_reverse_is": torch.zeros(n), "g_reverse_is_ess": torch.zeros(1),
            "forward_bpd": {}, "seconds": {}}


calls: list[dict] = []


def test_editing_a_budget_recomputes_instead_of_reading_the_old_entry(monkeypatch):
    monkeypatch.setattr(q3, "_compute_reverse", fake_reverse)
    calls.clear()
    first = q3.reverse_results()
    assert len(calls) == 1 and len(first.g_reverse) == runs.budget()["q3"]["completions"]
    q3.reverse_results()
    assert len(calls) == 1  # unchanged inputs: the entry is read
    budgets = copy.deepcopy(runs.BUDGETS)
    budgets["full"]["q3"]["completions"] += 1
    monkeypatch.setattr(runs, "BUDGETS", budgets)
    again = q3.reverse_results()
    assert len(calls) == 2 and len(again.g_reverse) == len(first.g_reverse) + 1
