"""The report: static checks of the Quarto sources, the notebook to submit, and a real `quarto render`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from pixelcnn.report import plots
from pixelcnn.report.build import find_quarto, preview_html
from pixelcnn.report.notebook import (
    CHUNK,
    INLINE,
    RETRAINED_ROLE,
    TEXT_ROLE,
    expand_includes,
    md,
    split_front_matter,
    to_notebook,
)
from pixelcnn.report.submission import PART_CHARS, outputs_with_problems, submission
from pixelcnn.study.data import ensure_mnist
from pixelcnn.study.settings import PACKAGE_DIR, project_root

ROOT = project_root()
REPORT = ROOT / "report.qmd"
MAX_NOTEBOOK_MB, MAX_CELL_BYTES = 10, 2**20
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
        if label and label.group(2) == "fig":
            assert "#| fig-alt:" in chunk, f"{label.group(1)} has no alt text"


def test_no_line_starts_with_an_inline_value_or_a_list_marker():
    """A value such as "129." or a paragraph opening "(d) and ..." would be read as a list."""
    for line in markdown_text().splitlines():
        text = line.strip()
        assert not text.startswith("`{python}"), f"an inline value starts a line: {line!r}"
        assert not ENUMERATOR.match(text), f"a line that reads as a list item: {line!r}"
        assert not re.match(r"\(?@[\w-]+\)", text), f"a line that Pandoc reads as an example list: {line!r}"


BARE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def test_every_inline_value_is_a_bare_name_of_a_findings_object():
    """Prose without code: an inline value names a formatted value (``study.prose.Prose``); no indexing,
    arithmetic, call, comprehension or conditional inside a sentence."""
    sources = sorted([ROOT / "report.qmd", *(ROOT / "chapters").glob("*.qmd")])
    computing = [f"{path.name}: {expression}" for path in sources
                 for expression in re.findall(r"(?<!`)`\{python\}\s+([^`]+)`", path.read_text())
                 if not BARE.fullmatch(expression.strip())]
    assert computing == [], "\n".join(computing)


def test_inline_values_must_be_formatted_text():
    namespace = {"value": 3}
    exec("from pixelcnn.report.notebook import md", namespace)
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
    assert ("##", "The answers at a glance") in headings  # unnumbered, as in the HTML
    assert ("#", "1 Q1: a PixelCNN without gates or dilation") in headings
    shown = OTHER_FORMATS_ONLY.sub("", expand_includes(REPORT))  # the notebook leaves out the HTML's and the PDF's own
    figure_chunks = len(re.findall(r"#\|\s*label:\s*fig-", shown))
    captions = [c for c in notebook.cells if c.cell_type == "markdown" and re.match(r"\*Figure \d+: ", c.source)]
    assert len(captions) == figure_chunks
    roles = [c.metadata.get("pixelcnn", {}).get("role") for c in notebook.cells]
    assert roles.count(TEXT_ROLE) > 20 and roles.count(RETRAINED_ROLE) >= 3  # text to fill in; one close a chapter
    for index, cell in enumerate(notebook.cells):  # a chapter's text is closed before the next chapter starts
        if cell.cell_type == "markdown" and cell.source.startswith("# ") and TEXT_ROLE in roles[1:index]:
            assert RETRAINED_ROLE in roles[roles[:index].index(TEXT_ROLE):index] or index == 0
    assert "appendix" not in markdown.lower() or "code/pixelcnn/" in markdown


def check_submitted(path: Path) -> nbformat.NotebookNode:
    """The checks every notebook to submit passes before and after it is run."""
    assert path.stat().st_size <= MAX_NOTEBOOK_MB * 2**20, f"{path.stat().st_size / 2**20:.1f} MB"
    notebook = nbformat.read(path, as_version=4)
    biggest = max(len(json.dumps(c)) for c in notebook.cells)
    assert biggest <= MAX_CELL_BYTES, f"a cell of {biggest / 2**20:.1f} MB"
    title = notebook.cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    at = next(k for k, c in enumerate(notebook.cells) if c.source.startswith("#@title Set-up"))
    opening, setup = notebook.cells[1:at], notebook.cells[at]
    assert opening and all(c.cell_type == "markdown" for c in opening)  # the answers at a glance, before the set-up
    assert "answers at a glance" in opening[0].source and "| Q3 (g) |" in "".join(c.source for c in opening)
    assert setup.metadata["cellView"] == "form"
    assert "RETRAIN = False" in setup.source and re.search(r"lightning==[\d.]+", setup.source)
    parts = [c for c in notebook.cells if c.source.startswith("#@title The shipped results")]
    assert parts and all(len(c.source) <= PART_CHARS + 200 for c in parts) and "unpack(PAYLOAD)" in parts[-1].source
    assert outputs_with_problems(notebook) == []
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not any(c.source.startswith("md(") for c in code), "text is code"
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    prose = re.sub(r"```python\n.*?\n```", "", text, flags=re.DOTALL)  # the text without the code listings
    for markup in ("{python}", "np.int64", "tensor(", "@fig-", "<details"):
        assert markup not in prose, f"{markup!r} in the notebook's text"
    runnable = "\n".join(c.source for c in code)
    for listed in ("class ShiftedConv", "def training_step", "self.log(", "def full_conditional",
                   "def complete_given_later", "def update("):  # the code of the answers, as code cells that run
        assert listed in runnable, f"{listed!r} is not a code cell"
    assert "model = SimplePixelCNN(" in runnable  # ... and used: the model built from the classes defined there
    assert "```python" in text and "bits/dim" in text
    images = sum("image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))
    captions = sum(bool(re.match(r"\*Figure \d+: ", c.source)) for c in notebook.cells if c.cell_type == "markdown")
    assert images >= captions > 0
    tables = sum(bool(re.match(r"\*Table \d+: ", c.source)) for c in notebook.cells if c.cell_type == "markdown")
    table_outputs = sum("|---" in o.get("data", {}).get("text/markdown", "").replace(":", "-")
                        for c in notebook.cells for o in c.get("outputs", []))
    assert table_outputs >= tables - 2 > 0  # every table chunk has its output (two tables are Markdown text)
    return notebook


def fresh_runtime_env(home: Path) -> dict[str, str]:
    """What a fresh runtime has: no PIXELCNN_* variables and an empty home (no downloaded checkpoint)."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELCNN_")}
    return {**env, "HOME": str(home)}


def run_alone(path: Path, folder: Path, python: str | None = None, env: dict | None = None,
              edit=None) -> nbformat.NotebookNode:
    """Execute exactly the file ``path`` alone in an empty folder, in a fresh kernel, as "Run all" does:
    no data, no cache, no checkpoint, no ``PIXELCNN_*`` variables, an empty ``HOME``; the kernel runs
    ``python`` (default: this one); ``edit(notebook)`` may change it first (e.g. tick RETRAIN)."""
    from nbclient import NotebookClient

    folder.mkdir()
    shutil.copy(path, folder / path.name)
    notebook = nbformat.read(folder / path.name, as_version=4)
    if edit:
        edit(notebook)
    kernels = folder.parent / f"{folder.name}-kernels"
    spec = kernels / "kernels" / "alone"
    spec.mkdir(parents=True)
    argv = [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "alone", "language": "python"}))
    client = NotebookClient(notebook, timeout=1800, kernel_name="alone", resources={"metadata": {"path": folder}})
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(kernels)
    try:
        client.execute(env=env or fresh_runtime_env(folder.parent / f"{folder.name}-home"))
    finally:
        os.environ.pop("JUPYTER_PATH") if old is None else os.environ.update(JUPYTER_PATH=old)
    assert (folder / "pixelcnn_files" / "code" / "pixelcnn" / "core" / "models.py").exists()
    assert not (folder / "data").exists(), "the notebook fetched MNIST: a result it reads is not shipped"
    return notebook


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> Path:
    """The notebook to submit, built from the committed cache (once per module)."""
    path = tmp_path_factory.mktemp("submitted") / "report.ipynb"
    old = os.environ.get("PIXELCNN_CACHE")
    os.environ["PIXELCNN_CACHE"] = str(ROOT / "cache")
    try:
        nbformat.write(submission(), path)
    finally:
        os.environ.update(PIXELCNN_CACHE=old) if old else os.environ.pop("PIXELCNN_CACHE")
    return path


def test_notebook_to_submit_runs_alone_in_an_empty_folder(tmp_path, submitted):
    check_submitted(submitted)
    executed = run_alone(submitted, tmp_path / "alone")
    assert outputs_with_problems(executed) == []
    nbformat.write(executed, tmp_path / "executed.ipynb")
    check_submitted(tmp_path / "executed.ipynb")
    preview_html(submitted, tmp_path / "preview.html")  # the page `make report` makes without Quarto
    page = (tmp_path / "preview.html").read_text()
    assert "<h1" in page and "Autoregressive image models" in page and "Preview build" in page
    assert not any(markup in page for markup in ("@fig-", "{#sec-", ":::", "PAYLOAD"))
    assert page.count("<img") >= page.count("<em>Figure ") > 0


def test_a_weight_left_out_of_the_notebook_says_so_in_one_line(tmp_path, submitted):
    """The payload ships only the files the report read; asking for another says why it is missing."""
    import base64
    import io
    import tarfile

    notebook = nbformat.read(submitted, as_version=4)
    encoded = "".join(re.search(r'PAYLOAD.append\("([^"]*)"\)', c.source).group(1)
                      for c in notebook.cells if c.source.startswith("#@title The shipped results"))
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded)), mode="r:xz") as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    cache_root = tmp_path / "unpacked" / "cache"
    weights = sorted(cache_root.glob("train-*/model.pt"))
    omitted = [p for p in sorted(cache_root.glob("train-*/omitted.json")) if "model.pt" in p.read_text()]
    assert weights and omitted, "some weights are shipped (the models the notebook runs), others left out"
    from pixelcnn.study import cache

    folder = omitted[0].parent
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = cache.lookup(manifest["kind"], manifest["config"], root=cache_root)
    with pytest.raises(cache.CacheError, match="shipped without its file model.pt.*RETRAIN") as error:
        entry.path("model.pt")
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_retrain_recomputes_and_the_text_follows_on_the_smoke_profile(tmp_path, submitted, course_checkpoint):
    """RETRAIN ticked (smoke profile, so it takes minutes): every result is recomputed, the set-up says how
    long the shipped ones took, and each chapter ends with its paragraphs as they read now."""

    def tick(notebook):
        setup = next(c for c in notebook.cells if c.source.startswith("#@title Set-up"))
        setup.source = setup.source.replace("RETRAIN = False", "RETRAIN = True")

    env = {**fresh_runtime_env(tmp_path / "home"), "PIXELCNN_PROFILE": "smoke",
           "PIXELCNN_DATA": str(ensure_mnist()), "PIXELCNN_PRETRAINED": str(course_checkpoint)}
    executed = run_alone(submitted, tmp_path / "alone", env=env, edit=tick)
    assert outputs_with_problems(executed) == []
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert re.search(r"RETRAIN: .* took \d+ hours", printed)
    assert (tmp_path / "alone" / "pixelcnn_retrained").is_dir()
    retrained = [shown for c in executed.cells if c.cell_type == "code" and c.source.startswith("retrained_text(")
                 for o in c.outputs if (shown := o.get("data", {}).get("text/markdown"))]
    assert len(retrained) >= 3 and all(t.startswith("**Recomputed (RETRAIN).**") for t in retrained)
    assert any("now read:" in t and "bits/dim" in t for t in retrained)  # smoke numbers differ from the shipped


@pytest.mark.colab
def test_notebook_to_submit_runs_alone_with_a_colab_runtimes_versions(tmp_path, submitted):
    """``make test-colab``: the same file in a venv with the versions a fresh Colab runtime ships
    (colab-requirements.txt); its set-up cell installs what that runtime lacks."""
    python = os.environ.get("NOTEBOOK_PYTHON")
    if not python:
        pytest.skip("set NOTEBOOK_PYTHON to the Python of a Colab-like venv (`make test-colab` does)")
    python = str(Path(python).absolute())  # the kernel starts in the empty folder
    executed = run_alone(submitted, tmp_path / "alone", python=python)
    assert outputs_with_problems(executed) == []
    versions = subprocess.run([python, "-c", "import torch, numpy; print(torch.__version__, numpy.__version__)"],
                              capture_output=True, text=True).stdout
    required = dict(line.split("==") for line in (ROOT / "colab-requirements.txt").read_text().splitlines()
                    if "==" in line and not line.startswith("#"))
    assert versions.split()[0].startswith(required["torch"]) and versions.split()[1] == required["numpy"]


def test_report_problems_are_detected():
    from pixelcnn.report.submission import execute

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import warnings; warnings.warn('x')")])
    executed = execute(notebook, cwd=Path.cwd())
    assert outputs_with_problems(executed)


@pytest.fixture
def outside_env(monkeypatch, course_checkpoint):
    """What the render reaches on a user's machine: MNIST and the course checkpoint (downloaded there)."""
    monkeypatch.setenv("PIXELCNN_DATA", str(ensure_mnist()))
    monkeypatch.setenv("PIXELCNN_PRETRAINED", str(course_checkpoint))
    monkeypatch.delenv("PIXELCNN_TRAIN", raising=False)


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
    from pixelcnn.report.build import render

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
    studies = max(i for i, page in enumerate(pages) if "Part II: the studies behind the answers" in page)
    assert studies < 14, f"Part I, the answers, takes {studies + 1} pages"  # the answers first, in 14 pages at most
    assert appendix <= 34, f"the body before the appendix takes {appendix} pages"
    assert "import pandas" not in text and "plots.table(" not in text  # no chunk code in print
    assert "nan" not in re.findall(r"\b\w+\b", text) and "np.int64" not in text
    assert not re.search(r"\?@(fig|tbl|sec)-", text)

    check_submitted(site / "report.ipynb")
    executed = run_alone(site / "report.ipynb", tmp_path / "alone")  # as a grader runs it
    assert outputs_with_problems(executed) == []


def test_the_core_study_and_chapter_modules_do_not_load_the_report_machinery():
    machinery = ("nbformat", "nbclient", "pixelcnn.report.notebook", "pixelcnn.report.submission",
                 "pixelcnn.report.build")
    modules = sorted(".".join(p.relative_to(PACKAGE_DIR).with_suffix("").parts) for p in PACKAGE_DIR.rglob("*.py")
                     if p.relative_to(PACKAGE_DIR).parts[0] != "report" and p.stem not in ("__init__", "__main__"))
    without_lightning = [m for m in modules if m != "study.training"]  # Lightning loads yaml itself
    for imported, forbidden in ((modules, machinery), (without_lightning, (*machinery, "yaml"))):
        code = (f"import sys; {'; '.join(f'import pixelcnn.{m}' for m in imported)}; "
                f"print(sorted(m for m in {forbidden!r} if m in sys.modules))")
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert loaded.strip() == "[]", imported
