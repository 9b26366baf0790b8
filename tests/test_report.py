"""The report: static checks of the Quarto sources, the notebook to submit, and a real `quarto render`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from pixelcnn import plots
from pixelcnn.config import project_root
from pixelcnn.data import ensure_mnist
from pixelcnn.notebook import (
    CHUNK,
    INLINE,
    expand_includes,
    md,
    outputs_with_problems,
    split_front_matter,
    submission,
    to_notebook,
)
from pixelcnn.report import find_quarto, preview_html

ROOT = project_root()
REPORT = ROOT / "report.qmd"
MAX_NOTEBOOK_MB = 25
RAW_MARKUP = ("@fig-", "@tbl-", "@sec-", "{#", ":::", "{{<", "{python}")
OTHER_FORMATS_ONLY = re.compile(r'^::: \{\.content-visible when-format="(?!ipynb")[^"]+"\}$.*?^:::$', re.M | re.S)
ENUMERATOR = re.compile(r"^(\(?(\d+|[A-Za-z]|[ivxIVX]+)[.)]|#\.)(\s|$)")  # what pandoc reads as the start of a list


def markdown_text() -> str:
    """The report's Markdown with its code chunks left out."""
    return CHUNK.sub("", split_front_matter(expand_includes(REPORT))[1])


def test_quarto_config_renders_html_and_typst_with_a_notebook_step():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert config["project"]["render"] == ["report.qmd"]
    assert (ROOT / config["project"]["post-render"]).exists()
    assert {"html", "typst"} <= set(config["format"])
    assert config["format"]["html"]["html-math-method"] == "mathml"  # no script from a CDN
    assert config["format"]["typst"]["echo"] is False  # the PDF reads as a paper
    assert all(p.name.startswith("_") for p in (ROOT / "chapters").glob("*.qmd"))
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"/.quarto/", "**/*.quarto_ipynb"} <= set(ignored)  # what quarto render would otherwise append


def test_every_cross_reference_has_a_target_and_every_figure_a_caption():
    text = expand_includes(REPORT)
    labels = set(re.findall(r"#\|\s*label:\s*((?:fig|tbl)-[\w-]+)", text))
    labels |= set(re.findall(r"\{#((?:sec|tbl|fig)-[\w-]+)", text))
    references = set(re.findall(r"@((?:fig|tbl|sec)-[\w-]*\w)", text))
    assert references, "the report should cross-reference its figures and tables"
    assert references <= labels, f"references without a target: {sorted(references - labels)}"
    for chunk in re.findall(r"```\{python\}\n(.*?)```", text, re.DOTALL):
        label = re.search(r"#\|\s*label:\s*((fig|tbl)-[\w-]+)", chunk)
        if label:
            assert f"#| {label.group(2)}-cap:" in chunk, f"{label.group(1)} has no caption"


def test_no_line_starts_with_an_inline_value_or_a_list_marker():
    """A value such as "129." or a paragraph opening "(d) and ..." would be read as a list."""
    for line in markdown_text().splitlines():
        text = line.strip()
        assert not text.startswith("`{python}"), f"an inline value starts a line: {line!r}"
        assert not ENUMERATOR.match(text), f"a line that reads as a list item: {line!r}"


def test_inline_values_must_be_formatted_text():
    namespace = {"value": 3}
    exec("from pixelcnn.notebook import md", namespace)
    with pytest.raises(TypeError, match="not formatted text"):
        eval('md("`{python} value` apples")', namespace)
    eval("md(\"`{python} f'{value:.1f}'` apples\")", namespace)  # formatted: fine
    assert md.__doc__ and INLINE.search("`{python} f'{x}'`")


def test_tables_format_each_column_and_show_no_nan():
    frame = pd.DataFrame({"run": ["a", "b"], "n": [16, 256], "bpd": [0.97812, float("nan")], "flag": [True, False]})
    text = plots.table(frame, formats={"bpd": ".3f"}).data
    assert "nan" not in text.lower() and "–" in text
    assert "| 16 |" in text.replace("  ", " ") or " 16 " in text
    assert "16.0" not in text and "0.978" in text and "yes" in text


def test_notebook_reads_like_the_rendered_report():
    notebook = to_notebook(REPORT)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# Autoregressive image models")
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for markup in RAW_MARKUP:
        assert markup not in markdown, f"raw markup {markup!r} in the notebook's text"
    headings = re.findall(r"^(#+) (.*)$", markdown, re.MULTILINE)
    assert ("##", "Summary") in headings  # unnumbered, as in the HTML
    assert ("#", "1 Q1: a PixelCNN without gates or dilation") in headings
    shown = OTHER_FORMATS_ONLY.sub("", expand_includes(REPORT))  # the notebook leaves out the HTML's and the PDF's own
    figure_chunks = len(re.findall(r"#\|\s*label:\s*fig-", shown))
    captions = [c for c in notebook.cells if c.cell_type == "markdown" and re.match(r"\*Figure \d+: ", c.source)]
    assert len(captions) == figure_chunks
    md_cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("md(")]
    assert md_cells and all(c.metadata["jupyter"]["source_hidden"] for c in md_cells)


def check_submitted(path: Path) -> nbformat.NotebookNode:
    """The checks every notebook to submit passes before and after it is run."""
    assert path.stat().st_size <= MAX_NOTEBOOK_MB * 2**20
    notebook = nbformat.read(path, as_version=4)
    title, setup = notebook.cells[:2]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert setup.source.startswith("#@title Set-up") and setup.metadata["cellView"] == "form"
    assert "RETRAIN = False" in setup.source and re.search(r"lightning==[\d.]+", setup.source)
    assert outputs_with_problems(notebook) == []
    images = sum("image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))
    captions = sum(bool(re.match(r"\*Figure \d+: ", c.source)) for c in notebook.cells if c.cell_type == "markdown")
    assert images >= captions > 0
    tables = sum(bool(re.match(r"\*Table \d+: ", c.source)) for c in notebook.cells if c.cell_type == "markdown")
    table_outputs = sum("|---" in o.get("data", {}).get("text/markdown", "").replace(":", "-")
                        for c in notebook.cells for o in c.get("outputs", []))
    assert table_outputs >= tables - 1 > 0  # every table chunk has its output (one table is Markdown text)
    shown = json.dumps([o.get("data", {}).get("text/markdown", "") for c in notebook.cells
                        for o in c.get("outputs", [])])
    assert not any(markup in shown for markup in ("np.int64", "tensor(", "@fig-", "{python}"))
    return notebook


def run_alone(path: Path, folder: Path) -> nbformat.NotebookNode:
    """Execute exactly the file ``path`` in an empty folder, in a fresh kernel, as "Run all" does."""
    from nbclient import NotebookClient

    folder.mkdir()
    shutil.copy(path, folder / path.name)
    notebook = nbformat.read(folder / path.name, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
    assert (folder / "pixelcnn_files" / "code" / "pixelcnn" / "models.py").exists()
    return notebook


@pytest.fixture
def outside_env(monkeypatch, course_checkpoint):
    """What a fresh runtime reaches: MNIST and the course checkpoint (downloaded there, provided here)."""
    monkeypatch.setenv("PIXELCNN_DATA", str(ensure_mnist()))
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(course_checkpoint))
    monkeypatch.delenv("PIXELCNN_TRAIN", raising=False)


def test_notebook_to_submit_runs_alone_in_an_empty_folder(tmp_path, monkeypatch, outside_env):
    monkeypatch.setenv("PIXELCNN_CACHE", str(ROOT / "cache"))
    path = tmp_path / "report.ipynb"
    nbformat.write(submission(), path)
    check_submitted(path)
    executed = run_alone(path, tmp_path / "alone")
    assert outputs_with_problems(executed) == []
    nbformat.write(executed, tmp_path / "executed.ipynb")
    check_submitted(tmp_path / "executed.ipynb")
    preview_html(path, tmp_path / "preview.html")  # the page `make report` makes without Quarto
    page = (tmp_path / "preview.html").read_text()
    assert "<h1" in page and "Autoregressive image models" in page and "Preview build" in page
    assert not any(markup in page for markup in ("@fig-", "{#sec-", ":::", "PAYLOAD"))
    assert page.count("<img") >= page.count("<em>Figure ") > 0


def test_report_problems_are_detected():
    from pixelcnn.notebook import execute

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import warnings; warnings.warn('x')")])
    executed = execute(notebook, cwd=Path.cwd())
    assert outputs_with_problems(executed)


@pytest.mark.slow
def test_smoke_profile_runs_the_whole_report_from_an_empty_cache(tmp_path, monkeypatch, outside_env):
    from pixelcnn.notebook import execute

    monkeypatch.setenv("PIXELCNN_PROFILE", "smoke")
    monkeypatch.setenv("PIXELCNN_TRAIN", "1")
    monkeypatch.setenv("PIXELCNN_CACHE", str(tmp_path / "cache"))
    notebook = execute(to_notebook(REPORT), cwd=ROOT, timeout=900)
    assert outputs_with_problems(notebook) == []
    assert any(o.output_type == "display_data" and "image/png" in o.data
               for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


@pytest.mark.slow
def test_quarto_render_gives_clean_html_pdf_and_notebook(tmp_path, monkeypatch, outside_env):
    quarto = find_quarto(install=False)
    if quarto is None:
        pytest.skip("no Quarto found (on the PATH or beside the repository): the real render is not checked")
    monkeypatch.setenv("PIXELCNN_CACHE", str(ROOT / "cache"))
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    from pixelcnn.report import render

    outputs = {p.name for p in render(*quarto)}
    assert {"report.html", "report.pdf", "report.ipynb"} <= outputs
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == status, "quarto render changed the tree"
    site = ROOT / "_site"
    source = expand_includes(REPORT)
    n_figures = len(re.findall(r"#\|\s*label:\s*fig-", source))

    html = (site / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=[\"']https?://", html), "a script is loaded from the web"
    assert "<math" in html and "\\(" not in html  # MathML, typeset offline
    assert "<ol" not in html, "a paragraph became a numbered list"
    assert not re.search(r"\?@(fig|tbl|sec)-", html)  # every cross-reference resolved
    assert not re.search(r"<td[^>]*>\s*nan\s*</td>", html) and "np.int64" not in html
    assert len(re.findall(r'<figure class=["\']figure', html)) >= n_figures or html.count("<img") >= n_figures
    assert 'header-section-number">0.1<' not in html and "0.1 Summary" not in html  # the summary is unnumbered

    pages = pdf_pages(site / "report.pdf")
    text = "\n".join(pages)
    appendix = max(i for i, page in enumerate(pages) if "Appendix: how the results were produced" in page)
    assert appendix <= 25, f"the body before the appendix takes {appendix} pages"
    assert "import pandas" not in text and "plots.table(" not in text  # no chunk code in print
    assert "nan" not in re.findall(r"\b\w+\b", text) and "np.int64" not in text
    assert not re.search(r"\?@(fig|tbl|sec)-", text)

    check_submitted(site / "report.ipynb")
    executed = run_alone(site / "report.ipynb", tmp_path / "alone")
    assert outputs_with_problems(executed) == []
