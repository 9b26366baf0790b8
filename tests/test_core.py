"""The core's device rule: every random tensor is drawn from a given generator on that generator's device."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from pixelcnn.core import blocks, mcmc, rng, smc
from pixelcnn.core import estimators as est
from pixelcnn.core import inference as inf
from pixelcnn.core.models import build
from pixelcnn.core.sampling import sample

CORE = Path(__file__).resolve().parents[1] / "code" / "pixelcnn" / "core"
CREATE = {"rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like"}
FROM_TENSOR = {"multinomial", "bernoulli", "poisson"}  # draw on their input's device: it must be moved there
IN_PLACE = {"uniform_", "normal_", "exponential_", "geometric_", "cauchy_", "log_normal_", "random_", "bernoulli_"}


def random_calls() -> list[tuple[str, ast.Call]]:
    """Every call in the core of a torch function or method that draws random numbers, with its place."""
    found = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in CREATE | FROM_TENSOR | IN_PLACE:
                found.append((f"{path.name}:{node.lineno}", node))
    return found


def test_every_random_call_of_the_core_draws_on_its_generators_device():
    calls = random_calls()
    assert len(calls) >= 6  # sampling, mcmc (2), blocks, smc, estimators (2), inference
    for place, call in calls:
        keywords = {k.arg: k.value for k in call.keywords}
        assert "generator" in keywords, f"{place}: a random draw without a generator"
        on_generator = f"{ast.unparse(keywords['generator'])}.device"
        if call.func.attr in CREATE:
            assert "device" in keywords, f"{place}: {call.func.attr} without device="
            assert ast.unparse(keywords["device"]) == on_generator, f"{place}: not drawn on the generator's device"
        elif call.func.attr in FROM_TENSOR:
            source = call.args[0]
            assert isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute) and \
                source.func.attr == "to" and ast.unparse(source.args[0]) == on_generator, \
                f"{place}: {call.func.attr} of a tensor not moved to the generator's device"
        else:
            pytest.fail(f"{place}: an in-place random draw ({call.func.attr}); draw with a creation function")


@pytest.fixture
def spied(monkeypatch):
    """torch's random functions, watched: each call must draw on its generator's device; the calls by name."""
    seen: dict[str, int] = {}

    def watch(name: str):
        original = getattr(torch, name)

        def spy(*args, **kwargs):
            generator = kwargs.get("generator")
            assert generator is not None, f"torch.{name} without a generator"
            if name in FROM_TENSOR:
                assert args[0].device == generator.device, f"torch.{name} of a tensor on another device"
            else:
                assert torch.device(kwargs.get("device", "cpu")) == generator.device and "device" in kwargs, \
                    f"torch.{name} not drawn on the generator's device"
            seen[name] = seen.get(name, 0) + 1
            out = original(*args, **kwargs)
            assert out.device == generator.device
            return out

        monkeypatch.setattr(torch, name, spy)

    for name in ("rand", "randn", "randint", "randperm", "multinomial"):
        watch(name)
    return seen


def test_the_samplers_and_chains_draw_on_the_generators_device(spied):
    torch.manual_seed(0)
    model = build("simple", levels=3, channels=4, layers=1, first_kernel_size=3)
    image = torch.randint(0, 3, (1, 1, 3, 2), generator=rng.generator(0), device="cpu")
    generator = rng.generator(1)
    for method in ("fast", "naive"):
        sample(model, 2, size=(3, 2), generator=generator, method=method)
    mcmc.metropolis_within_gibbs(model, image.repeat(2, 1, 1, 1), [0, 1, 2], 2, generator, pixel=1)
    blocks.chains(model, model, image.repeat(2, 1, 1, 1), 3, 1, generator, sites=2, pixel=1,
                  schedule=[("forward", 0, 3), ("reverse", 0, 2)])
    smc.temper(model, None, image, 3, 4, generator, schedule=[("forward", 0, 3)],
               temperatures=torch.tensor([[0.0], [0.5], [1.0]]))
    proposals = sample(model, 8, stop=3, size=(3, 2), generator=generator)
    est.complete_given_later(model, image, proposals, 3, 4, generator)
    est.gibbs(model, image, [0, 2], 1, generator)
    inf.dependency_map(model, image, 4)
    assert {"rand", "randn", "randint", "multinomial"} <= set(spied)


def test_a_generator_is_made_on_a_device_with_its_seed():
    a, b = rng.generator(7), rng.generator(7, "cpu")
    assert a.device == torch.device("cpu") and torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    assert rng.or_default(None) is torch.default_generator and rng.or_default(a) is a
