"""The code behind each answer, shown in the report from the package itself (one source of truth).

``ANSWERS`` names, for each section of the report that answers a question, the package objects (functions
and classes) that compute the answer. ``answer(section)`` shows their source as a highlighted Python block
(folded in the HTML, gathered in an appendix of the PDF: ``answers()``) and defines them in the caller's
namespace from that very source (``source_cell``: the imports of the names they use, then their source), so
the cells after it use the code shown; the notebook builder makes that source an executable code cell.
``modules(names)`` shows whole modules, for the notebook's appendix.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types

from ..study.settings import PACKAGE_DIR

ANSWERS: dict[str, tuple[str, ...]] = {
    "Q1: the model": ("core.layers.stack_mask", "core.layers.ShiftedConv", "core.layers.stack_conv",
                      "core.models.PixelCNNBase",
                      "core.models.StackLayer", "core.models.SimpleLayer", "core.models.SimplePixelCNN",
                      "core.models.bits_per_dim"),
    "Q1: training with Lightning, and what it logs": ("study.training.PixelCNNModule",),
    "Q2: the non-causal change": ("core.models.NonCausalPixelCNN",),
    "Q3: (a), (c) and (e), exact": ("core.inference.conditional", "core.inference.full_conditional"),
    "Q3: (b) by Monte Carlo": ("core.estimators.marginal_monte_carlo",),
    "Q3: (d) by importance sampling over prefixes": ("core.estimators.conditional_on_later_pixels",),
    "Q3: (f) by ancestral sampling, (g) by sampling-importance-resampling": (
        "core.sampling._naive", "core.estimators.complete_given_later", "core.estimators.resample"),
    "Q3: the reverse-order model as a proposal": ("core.estimators.sample_before", "core.estimators.reverse_proposals"),
    "Q3: one Metropolis-within-Gibbs update": ("core.mcmc.update",),
    "Q3: one block Metropolis-Hastings move": ("core.blocks.block_update",),
    "Q3: tempering from the prior (sequential Monte Carlo)": ("core.smc.next_beta", "core.smc.temper"),
    "Q3: (d) by reverse proposals, Rao-Blackwellised": ("core.estimators.rao_blackwellised_pixel",),
}
# The modules whose source the notebook's appendix shows in full (the core the answers rest on).
CORE_MODULES = ("core/layers", "core/models", "core/sampling", "core/inference", "core/estimators", "core/mcmc",
                "study/data", "study/training")
FOLD_OPEN, FOLD_CLOSE = "<details class=\"listing\"><summary>", "</summary>"


def _module(name: str) -> str:
    """The module part of an object's name: "q3.importance" of "q3.importance.rb_reverse.compute"."""
    parts = name.split(".")
    return next(".".join(parts[:k]) for k in range(len(parts), 0, -1)
                if (PACKAGE_DIR / f"{'/'.join(parts[:k])}.py").exists())


def _object(name: str):
    module = _module(name)
    target = importlib.import_module(f"pixelcnn.{module}")
    for attribute in name[len(module) + 1:].split(".") if name != module else []:
        target = getattr(target, attribute)
    return target


def source_of(name: str) -> str:
    """The source of one package object, dedented: ``source_of("core.layers.ShiftedConv")``."""
    return textwrap.dedent(inspect.getsource(_object(name))).rstrip()


def _import_line(name: str, value: object, module: str) -> str:
    """The import that binds ``name`` to ``value``, a global of the package module ``module``."""
    if isinstance(value, types.ModuleType):
        parent, _, last = value.__name__.rpartition(".")
        if last == name and parent:
            return f"from {parent} import {name}"
        return f"import {value.__name__}" + ("" if value.__name__ == name else f" as {name}")
    home = getattr(value, "__module__", None) or f"pixelcnn.{module}"
    if not hasattr(importlib.import_module(home), name):
        home = f"pixelcnn.{module}"
    return f"from {home} import {name}"


def source_cell(section: str) -> str:
    """Executable Python for one answer (a key of ``ANSWERS``): the imports of every global its objects use that
    they do not define themselves, then their source, in order."""
    names = ANSWERS[section]
    sources = [source_of(name) for name in names]
    defined = {name.rsplit(".", 1)[-1] for name in names}
    imports: dict[str, str] = {}
    for name, source in zip(names, sources, strict=True):
        module = importlib.import_module(f"pixelcnn.{_module(name)}")
        used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
        for free in sorted(used - defined - set(dir(builtins))):
            if free in vars(module) and free not in imports:
                imports[free] = _import_line(free, vars(module)[free], _module(name))
    lines = sorted(set(imports.values()), key=lambda line: (not line.startswith("import"), line))
    header = "\n".join(["from __future__ import annotations", "", *lines])
    return header + "\n\n\n" + "\n\n\n".join(
        f"# code/pixelcnn/{_module(name).replace('.', '/')}.py\n{source}" for name, source in zip(names, sources,
                                                                                                  strict=True))


def _block(title: str, code: str, fold: bool) -> str:
    body = f"```python\n{code}\n```"
    return f"{FOLD_OPEN}{title}{FOLD_CLOSE}\n\n{body}\n\n</details>" if fold else f"**{title}**\n\n{body}"


def answer(section: str, fold: bool = True, define: bool = True):
    """The source of the objects behind one answer (a key of ``ANSWERS``) as Markdown: one block, titled by the
    objects' places in the package; ``define``: also run it in the caller's namespace (``source_cell``)."""
    from IPython.display import Markdown

    code = source_cell(section)
    if define:
        caller = inspect.currentframe().f_back.f_globals
        exec(compile(code, f"<{section}>", "exec"), caller)  # noqa: S102 - the package's own source, as shown
    return Markdown(_block(f"Code: {section.split(': ', 1)[1]}", code, fold))


def answers():
    """Every answer's code, one titled block each, unfolded (the PDF's appendix)."""
    from IPython.display import Markdown

    return Markdown("\n\n".join(answer(section, fold=False, define=False).data for section in ANSWERS))


def modules(names: tuple[str, ...] | None = CORE_MODULES, headings: bool = False):
    """Whole modules of the package as Markdown code blocks (``None``: every module), each titled in bold or,
    with ``headings``, by an unnumbered section heading (the HTML's appendix, listed in its contents)."""
    from IPython.display import Markdown

    names = names or tuple(sorted(p.relative_to(PACKAGE_DIR).with_suffix("").as_posix()
                                  for p in PACKAGE_DIR.rglob("*.py")))
    blocks = []
    for name in names:
        code = (PACKAGE_DIR / f"{name}.py").read_text().rstrip()
        blocks.append(f"## `{name}.py` {{.unnumbered}}\n\n```python\n{code}\n```\n" if headings
                      else _block(f"code/pixelcnn/{name}.py", code, fold=False))
    return Markdown("\n".join(blocks) if headings else "\n\n".join(blocks))
