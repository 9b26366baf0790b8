"""The report: static checks of the Quarto sources, and full executions in fresh kernels."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from pixelcnn.config import project_root
from pixelcnn.data import ensure_mnist
from pixelcnn.pretrained import checkpoint_path
from pixelcnn.report import bundled_package_cell, execute, expand_includes, outputs_with_problems, to_notebook

ROOT = project_root()
REPORT = ROOT / "report.qmd"


def test_quarto_config_parses_and_renders_only_the_report():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert config["project"]["render"] == ["report.qmd"]
    assert {"html", "typst", "ipynb"} <= set(config["format"])
    assert config["format"]["ipynb"]["produce-source-notebook"] is True
    assert all(p.name.startswith("_") for p in (ROOT / "chapters").glob("*.qmd"))


def test_every_cross_reference_has_a_target_and_every_figure_a_caption():
    text = expand_includes(REPORT)
    labels = set(re.findall(r"#\|\s*label:\s*((?:fig|tbl)-[\w-]+)", text))
    labels |= set(re.findall(r"\{#((?:sec|tbl|fig)-[\w-]+)", text))
    references = set(re.findall(r"@((?:fig|tbl|sec)-[\w-]+)", text))
    assert references, "the report should cross-reference its figures and tables"
    assert references <= labels, f"references without a target: {sorted(references - labels)}"
    for chunk in re.findall(r"```\{python\}\n(.*?)```", text, re.DOTALL):
        label = re.search(r"#\|\s*label:\s*((fig|tbl)-[\w-]+)", chunk)
        if label:
            assert f"#| {label.group(2)}-cap:" in chunk, f"{label.group(1)} has no caption"


def test_includes_are_expanded_and_chunks_become_cells():
    notebook = to_notebook(REPORT)
    sources = "\n".join(c.source for c in notebook.cells)
    assert "{{< include" not in sources
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 10


@pytest.fixture
def smoke_env(tmp_path, monkeypatch):
    """The smoke profile from an empty cache: tiny runs trained on the fly."""
    ensure_mnist()
    monkeypatch.setenv("PIXELCNN_PROFILE", "smoke")
    monkeypatch.setenv("PIXELCNN_TRAIN", "1")
    monkeypatch.setenv("PIXELCNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(checkpoint_path(download=False)))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    return tmp_path


def test_smoke_profile_runs_the_whole_report_from_an_empty_cache(smoke_env):
    notebook = execute(to_notebook(REPORT), cwd=ROOT, timeout=900)
    assert outputs_with_problems(notebook) == []
    assert any(o.output_type == "display_data" and "image/png" in o.data
               for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_colab_notebook_runs_alone_in_an_empty_folder(smoke_env, monkeypatch):
    folder = smoke_env / "colab"
    folder.mkdir()
    monkeypatch.setenv("PIXELCNN_DATA", str(ensure_mnist()))
    notebook = to_notebook(REPORT)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(bundled_package_cell()))
    nbformat.write(notebook, folder / "report-colab.ipynb")
    alone = nbformat.read(folder / "report-colab.ipynb", as_version=4)
    executed = execute(alone, cwd=folder, timeout=900)
    assert outputs_with_problems(executed) == []
    assert (folder / "pixelcnn_src" / "pixelcnn" / "models.py").exists()


@pytest.mark.skipif(os.environ.get("PIXELCNN_SKIP_FULL_REPORT") == "1", reason="asked to skip")
def test_whole_report_executes_with_the_committed_cache(monkeypatch):
    monkeypatch.setenv("PIXELCNN_CACHE", str(ROOT / "cache"))
    monkeypatch.delenv("PIXELCNN_TRAIN", raising=False)
    notebook = execute(to_notebook(REPORT), cwd=ROOT, timeout=900)
    assert outputs_with_problems(notebook) == []


def test_report_problems_are_detected():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import warnings; warnings.warn('x')")])
    executed = execute(notebook, cwd=Path.cwd())
    assert outputs_with_problems(executed)
