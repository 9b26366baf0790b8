"""Cache keys that cannot go stale: every cached result declares its inputs, and its key is made of them."""

from __future__ import annotations

import copy
import dataclasses
import inspect

import pytest
import torch

from pixelcnn.q3 import importance, mcmc_runs, quantities
from pixelcnn.study import benchmark, cache, runs
from pixelcnn.study.settings import project_root

DECLARED = cache.declared()  # name -> its declaration, every module of the package imported
# Each cached result of the report and the arguments it is called with: (cache kind, its inputs for them).
RESULTS = {f"{name}{list(case) if case else ''}": (d.kind, lambda d=d, case=case: d.inputs(*case))
           for name, d in DECLARED.items() for case in d.cases}
RESULTS["benchmark"] = ("benchmark", benchmark.inputs)


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


@pytest.mark.parametrize("name", RESULTS)
def test_changing_any_declared_input_changes_the_key(name):
    kind, declare = RESULTS[name]
    inputs = declare()
    paths = [path for path, _ in leaves(inputs)]
    assert len(paths) >= 2
    keys = {cache.entry_key(kind, changed(inputs, path)) for path in paths}
    assert cache.entry_key(kind, inputs) not in keys and len(keys) == len(paths)


def test_computations_see_only_their_declared_inputs():
    for name, declared in DECLARED.items():
        assert list(inspect.signature(declared.compute).parameters) == ["inputs"], name


def test_every_result_carries_its_inputs():
    for name, declared in DECLARED.items():
        assert dataclasses.fields(declared.result)[0].name == "inputs", name


def test_results_declare_the_models_and_budgets_they_use():
    reverse = importance.reverse_results.inputs()
    assert reverse["reverse"] == runs.config("reverse").to_dict()
    assert reverse["results"] == quantities.results.inputs()  # it scores the (g) completions of those results
    assert reverse["results"]["budget"]["completions"] == runs.budget()["q3"]["completions"]
    for question in ("d", "g"):
        run = mcmc_runs.single_site_chains.inputs(question)
        assert run["reverse"] == runs.config("reverse").to_dict() and run["model"] == "pretrained"
    assert importance.d_estimators.inputs()["images"] == mcmc_runs.single_site_chains.inputs("d")["images"]
    maps = DECLARED["q2-dependency-maps"].inputs()
    assert set(maps["models"]) == {"q1", "q2", "pretrained"}
    assert maps["models"]["q2"] == runs.config("q2").to_dict()


def test_a_run_name_and_its_config_map_both_ways():
    assert all(name in runs.names_of(runs.identity(name)) for name in (*runs.RUNS, "pretrained"))
    assert runs.names_of({"not": "a run"}) == ()


@pytest.mark.parametrize("name", RESULTS)
def test_the_committed_cache_holds_every_result_of_the_report(name, monkeypatch):
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)
    kind, declare = RESULTS[name]
    assert cache.lookup(kind, declare(), root=project_root() / "cache") is not None, f"{name}: no committed entry"


def test_the_committed_cache_holds_nothing_else(monkeypatch):
    """Every committed entry is a declared result of the report, the benchmark or a named run: nothing stale."""
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)
    expected = {f"{kind}-{cache.entry_key(kind, declare())}" for kind, declare in RESULTS.values()}
    expected |= {f"train-{cache.entry_key('train', runs.config(name).to_dict())}" for name in runs.RUNS}
    committed = {p.parent.name for p in (project_root() / "cache").glob("*/manifest.json")}
    assert committed <= expected, f"entries that nothing reads: {sorted(committed - expected)}"


def fake_reverse(inputs: dict) -> dict:
    calls.append(inputs)
    n = inputs["results"]["budget"]["completions"]
    return {"d_reverse": torch.zeros(1), "d_reverse_is": torch.zeros(1), "d_reverse_is_ess": torch.zeros(1),
            "g_reverse": torch.zeros(n), "g_reverse_is": torch.zeros(n), "g_reverse_is_ess": torch.zeros(1),
            "forward_bpd": {}, "seconds": {}}


calls: list[dict] = []


def test_editing_a_budget_recomputes_instead_of_reading_the_old_entry(monkeypatch):
    reverse = dataclasses.replace(importance.reverse_results, compute=fake_reverse)
    calls.clear()
    first = reverse()
    assert len(calls) == 1 and len(first.g_reverse) == runs.budget()["q3"]["completions"]
    assert first.inputs == importance.reverse_results.inputs()  # the result carries its inputs
    reverse()
    assert len(calls) == 1  # unchanged inputs: the entry is read
    budgets = copy.deepcopy(runs.BUDGETS)
    budgets["full"]["q3"]["completions"] += 1
    monkeypatch.setattr(runs, "BUDGETS", budgets)
    again = reverse()
    assert len(calls) == 2 and len(again.g_reverse) == len(first.g_reverse) + 1
    assert again.inputs["results"]["budget"]["completions"] == first.inputs["results"]["budget"]["completions"] + 1
