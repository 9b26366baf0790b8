"""Building the report: Quarto when it is installed, otherwise an executed notebook of the same sources.

Without Quarto, ``report.qmd`` and the chapters it includes become one Jupyter notebook (markdown
cells and ``{python}`` chunks; inline `` `{python} expr` `` values are computed by the kernel),
executed in a fresh kernel, then written as

* ``_build/report.ipynb``: the executed notebook;
* ``_build/report-preview.html``: a preview HTML, labelled as such;
* ``_build/report-colab.ipynb``: the notebook for Colab, with a first cell that installs what Colab
  lacks and writes the ``pixelcnn`` package from source bundled in the notebook.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import yaml

from .config import PACKAGE_DIR, project_root

INCLUDE = re.compile(r"^\{\{<\s*include\s+(\S+)\s*>\}\}\s*$", re.MULTILINE)
CHUNK = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
OPTION = re.compile(r"^#\|\s*([\w-]+):\s*(.*)$")


def expand_includes(path: Path) -> str:
    """The text of a .qmd file with its ``{{< include >}}`` shortcodes replaced, recursively."""
    text = path.read_text()
    return INCLUDE.sub(lambda m: expand_includes(path.parent / m.group(1)), text)


def split_front_matter(text: str) -> tuple[dict, str]:
    if text.startswith("---\n"):
        end = text.index("\n---", 4)
        return yaml.safe_load(text[4:end]) or {}, text[end + 4:]
    return {}, text


def chunk_options(code: str) -> dict[str, str]:
    """The ``#| key: value`` options at the top of a chunk."""
    options = {}
    for line in code.splitlines():
        match = OPTION.match(line)
        if not match:
            break
        options[match.group(1)] = match.group(2).strip().strip('"')
    return options


def to_notebook(qmd: Path) -> nbformat.NotebookNode:
    """One notebook from a .qmd file and its includes: markdown cells and code cells."""
    meta, body = split_front_matter(expand_includes(qmd))
    cells = []
    title = meta.get("title")
    if title:
        cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\n{meta.get('subtitle', '')}".strip()))
    position = 0
    for match in CHUNK.finditer(body):
        markdown = body[position:match.start()].strip()
        if markdown:
            cells.append(nbformat.v4.new_markdown_cell(markdown))
        code = match.group(1).rstrip()
        cell = nbformat.v4.new_code_cell(code)
        options = chunk_options(code)
        cell.metadata["quarto"] = options
        if options.get("include") == "false":
            cell.metadata["tags"] = ["remove_cell"]
        elif options.get("echo") == "false":
            cell.metadata["tags"] = ["remove_input"]
        cells.append(cell)
        position = match.end()
    if body[position:].strip():
        cells.append(nbformat.v4.new_markdown_cell(body[position:].strip()))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every code cell in a fresh kernel and fill in the inline ``{python}`` values of markdown."""
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
            elif INLINE.search(cell.source):
                cell.source = INLINE.sub(lambda m: _evaluate(client, m.group(1)), cell.source)
    return notebook


def _evaluate(client, expression: str) -> str:
    scratch = nbformat.v4.new_code_cell(f"print({expression}, end='')")
    client.execute_cell(scratch, 0, store_history=False)
    texts = [o.get("text", "") for o in scratch.outputs if o.output_type == "stream"]
    if not texts:
        raise RuntimeError(f"inline expression {expression!r} gave no value: {scratch.outputs}")
    return "".join(texts)


def outputs_with_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Errors, warnings and stderr text a reader would see in the executed notebook."""
    problems = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"error: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                text = re.sub(r"[^\n]*(it/s|s/it)[^\n]*", "", output.text)  # progress bars are fine
                if text.strip():
                    problems.append(f"stderr: {text.strip()[:300]}")
    return problems


def bundled_package_cell() -> str:
    """A notebook cell that installs Colab's missing packages and writes the package source."""
    files = {p.relative_to(PACKAGE_DIR.parent).as_posix(): p.read_text() for p in sorted(PACKAGE_DIR.glob("*.py"))}
    return ("# Set-up for Colab or any fresh runtime: packages, then the pixelcnn package written from source.\n"
            "import os, subprocess, sys\n"
            "pip = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'lightning', 'seaborn', 'tabulate'],\n"
            "                     capture_output=True, text=True)\n"
            "if pip.returncode != 0:\n"
            "    raise RuntimeError(pip.stderr)\n"
            f"FILES = {files!r}\n"
            "for name, text in FILES.items():\n"
            "    os.makedirs(os.path.join('pixelcnn_src', os.path.dirname(name)), exist_ok=True)\n"
            "    with open(os.path.join('pixelcnn_src', name), 'w') as f:\n"
            "        f.write(text)\n"
            "sys.path.insert(0, os.path.abspath('pixelcnn_src'))\n"
            "os.environ.setdefault('PIXELCNN_TRAIN', '1')  # no committed cache here: train what is missing\n")


def preview_html(notebook: nbformat.NotebookNode, path: Path) -> None:
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    banner = nbformat.v4.new_markdown_cell(
        "> **Preview build.** Quarto was not available, so this HTML was built from the same sources with "
        "Jupyter (nbclient + nbconvert). Cross-references and callouts appear in their plain form; "
        "`quarto render` gives the finished document.")
    shown = nbformat.from_dict(notebook)
    shown.cells.insert(0, banner)
    exporter = HTMLExporter(embed_images=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"remove_cell"},
                                                         remove_input_tags={"remove_input"}), enabled=True)
    html, _ = exporter.from_notebook_node(shown)
    path.write_text(html)


def build(out: Path | None = None) -> list[Path]:
    """Render with Quarto if it is installed; otherwise build the preview and Colab notebook."""
    root = project_root()
    if shutil.which("quarto"):
        subprocess.run(["quarto", "render"], cwd=root, check=True)
        return sorted((root / "_site").glob("report.*")) if (root / "_site").exists() else []
    print("Quarto is not installed: building the Quarto-free preview (HTML) and the Colab notebook instead.")
    out = Path(out or root / "_build")
    out.mkdir(parents=True, exist_ok=True)
    notebook = execute(to_notebook(root / "report.qmd"), cwd=root)
    problems = outputs_with_problems(notebook)
    if problems:
        raise RuntimeError("the report shows errors or warnings:\n" + "\n".join(problems))
    nbformat.write(notebook, out / "report.ipynb")
    preview_html(notebook, out / "report-preview.html")
    colab = nbformat.from_dict(notebook)
    colab.cells.insert(0, nbformat.v4.new_code_cell(bundled_package_cell()))
    nbformat.write(colab, out / "report-colab.ipynb")
    return [out / "report.ipynb", out / "report-preview.html", out / "report-colab.ipynb"]


def source_listings():
    """The package's source as Markdown code blocks (visible in every output format)."""
    from IPython.display import Markdown

    parts = [f"## `{p.name}`\n\n```python\n{p.read_text().rstrip()}\n```\n"
             for p in sorted(PACKAGE_DIR.glob("*.py"))]
    return Markdown("\n".join(parts))
