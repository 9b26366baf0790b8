"""The report as a Jupyter notebook, built from the same sources as the Quarto render.

``to_notebook`` turns ``report.qmd`` and the chapters it includes into a notebook that reads like
the rendered report: sections numbered and cross-references resolved as Quarto does ("Figure 3",
"Section 2.1"), figure captions under figures and table captions above tables, callouts as framed
paragraphs, and only the content meant for a notebook (``.content-visible`` / ``.content-hidden``
with ``when-format="html"``). A paragraph with inline `` `{python} expr` `` values becomes a small
cell whose code is hidden and whose output is the paragraph, with the values computed by the
kernel (``md``), so the text follows the results it describes.

``submission`` executes that notebook in a fresh kernel and puts a set-up cell after the title: it
installs the pinned packages a fresh runtime (Colab) lacks and unpacks the ``pixelcnn`` source and
the cache entries the report read, shipped compressed inside the notebook, so "Run all" works
alone in an empty folder without retraining; its RETRAIN switch recomputes everything instead.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from . import cache
from .config import PACKAGE_DIR, cache_dir, project_root

INCLUDE = re.compile(r"^\{\{<\s*include\s+(\S+)\s*>\}\}\s*$", re.MULTILINE)
CHUNK = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(?<!`)`\{python\}\s+([^`]+)`")
OPTION = re.compile(r"^#\|\s*([\w-]+):\s*(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^}]*)\})?\s*$")
REFERENCE = re.compile(r"@((fig|tbl|sec)-[\w-]*\w)")
DIV_OPEN = re.compile(r"^:::+\s*\{(.*)\}\s*$")
DIV_CLOSE = re.compile(r"^:::+\s*$")
TABLE_CAPTION = re.compile(r"^:\s+(.*?)\s*\{#(tbl-[\w-]+)\}\s*$")
LABEL_OPTION = re.compile(r"^#\|\s*label:\s*((?:fig|tbl)-[\w-]+)", re.MULTILINE)
KINDS = {"fig": "Figure", "tbl": "Table", "sec": "Section"}
FORMAT = "ipynb"
# What a fresh runtime may lack, pinned to the versions of requirements.txt.
SETUP_PACKAGES = ("lightning", "seaborn", "tabulate")


def expand_includes(path: Path) -> str:
    """The text of a .qmd file with its ``{{< include >}}`` shortcodes replaced, recursively."""
    text = path.read_text()
    return INCLUDE.sub(lambda m: expand_includes(path.parent / m.group(1)), text)


def split_front_matter(text: str) -> tuple[dict, str]:
    """(YAML front matter, body) of a .qmd text."""
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


def md(text: str) -> None:
    """Display Markdown ``text`` with its inline `` `{python} expr` `` values computed in the caller's namespace.

    Every value must already be formatted text (a ``str``): a number is formatted where it is
    written, so no repr of a NumPy or torch scalar can reach the reader.
    """
    from IPython.display import Markdown, display

    caller = inspect.currentframe().f_back
    namespace = {**caller.f_globals, **caller.f_locals}

    def value(match: re.Match) -> str:
        result = eval(match.group(1), namespace)  # noqa: S307 - the report's own inline expressions
        if not isinstance(result, str):
            raise TypeError(f"inline value {match.group(1)!r} is a {type(result).__name__}, not formatted text; "
                            f"format it in the source (e.g. an f-string)")
        return result

    display(Markdown(INLINE.sub(value, text)))


@dataclass
class Numbering:
    """Section, figure and table numbers in document order, as Quarto assigns them."""

    labels: dict[str, str] = field(default_factory=dict)  # label -> "Figure 3", "Section 2.1", ...
    headings: list[str | None] = field(default_factory=list)  # each heading's number (None: unnumbered)

    @classmethod
    def of(cls, body: str) -> Numbering:
        numbering, counters, figures, tables = cls(), [0] * 6, 0, 0
        items = [(m.start(), "chunk", m.group(1)) for m in LABEL_OPTION.finditer(body)]
        chunks = [m.span() for m in CHUNK.finditer(body)]
        items += [(m.start(), "heading", m) for m in re.finditer(r"^#{1,6}\s.*$", body, re.MULTILINE)
                  if not any(start < m.start() < end for start, end in chunks)]
        items += [(m.start(), "caption", m.group(1)) for m in re.finditer(r"\{#(tbl-[\w-]+)\}", body)]
        for _, kind, item in sorted(items, key=lambda i: i[0]):
            if kind == "heading":
                level, _, attributes = HEADING.match(item.group(0)).groups()
                if ".unnumbered" in (attributes or ""):
                    numbering.headings.append(None)
                    continue
                depth = len(level)
                counters[depth - 1] += 1
                counters[depth:] = [0] * (6 - depth)
                number = ".".join(str(c) for c in counters[:depth])
                numbering.headings.append(number)
                label = re.search(r"#(sec-[\w-]+)", attributes or "")
                if label:
                    numbering.labels[label.group(1)] = f"Section {number}"
            elif item.startswith("fig-"):
                figures += 1
                numbering.labels[item] = f"Figure {figures}"
            else:
                tables += 1
                numbering.labels[item] = f"Table {tables}"
        return numbering

    def resolve(self, text: str) -> str:
        """Text with every ``@fig-…``, ``@tbl-…``, ``@sec-…`` replaced by "Figure 3" and the like."""

        def name(match: re.Match) -> str:
            if match.group(1) not in self.labels:
                raise ValueError(f"cross-reference @{match.group(1)} has no target")
            return self.labels[match.group(1)]

        return REFERENCE.sub(name, text)


def _shown_for_notebook(attributes: str) -> bool | None:
    """Whether a ``.content-visible``/``.content-hidden`` div is shown in a notebook (None: not such a div)."""
    formats = re.findall(r'when-format="([^"]+)"', attributes)
    if ".content-visible" in attributes:
        return FORMAT in formats or not formats
    if ".content-hidden" in attributes:
        return FORMAT not in formats and bool(formats)
    return None


def _apply_divs(body: str) -> str:
    """Drop content not meant for a notebook and turn callouts into framed paragraphs."""
    out, stack, fenced = [], [], False  # stack of (kind, shown)
    for line in body.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        opening = None if fenced else DIV_OPEN.match(line)
        shown = all(s for _, s in stack)
        if opening:
            attributes = opening.group(1)
            visible = _shown_for_notebook(attributes)
            if visible is not None:
                stack.append(("content", visible))
            else:
                stack.append(("callout", True))
                title = re.search(r'title="([^"]*)"', attributes)
                if shown:
                    out += ["", "---", "", f"**{title.group(1)}**" if title else "", ""]
        elif not fenced and DIV_CLOSE.match(line) and stack:
            kind, _ = stack.pop()
            if kind == "callout" and shown:
                out += ["", "---", ""]
        elif shown:
            out.append(line)
    return "\n".join(out)


def _hide_source(cell: nbformat.NotebookNode, title: str | None = None) -> None:
    """Collapse a code cell's source in Jupyter and Colab (its output stays visible)."""
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["cellView"] = "form"
    cell.metadata.setdefault("tags", []).append("remove_input")
    if title:
        cell.source = f"#@title {title}\n{cell.source}"


def _markdown_cells(text: str, numbering: Numbering, heading_numbers) -> list[nbformat.NotebookNode]:
    """Markdown cells for plain blocks, hidden ``md`` cells for blocks with inline values."""
    cells: list[nbformat.NotebookNode] = []
    blocks = [b for b in re.split(r"\n\s*\n", text.strip("\n")) if b.strip()]
    plain: list[str] = []

    def flush() -> None:
        if plain:
            cells.append(nbformat.v4.new_markdown_cell("\n\n".join(plain)))
            plain.clear()

    for block in blocks:
        caption = TABLE_CAPTION.match(block.strip())
        if caption:  # a Markdown table's caption goes above the table, as in the rendered report
            previous = plain.pop() if plain else ""
            plain += [f"*{numbering.labels[caption.group(2)]}: {caption.group(1)}*", previous]
            continue
        first, _, rest = block.strip().partition("\n")
        heading = HEADING.match(first)
        if heading:
            level, title, _ = heading.groups()
            number = next(heading_numbers)
            block = (f"{level} {number} {title}" if number else f"{level} {title}") + (f"\n{rest}" if rest else "")
        block = numbering.resolve(block)
        if INLINE.search(block):
            flush()
            quote = '"""' if '"""' not in block else "'''"
            cell = nbformat.v4.new_code_cell(f"md(r{quote}{block}{quote})")
            _hide_source(cell)
            cells.append(cell)
        else:
            plain.append(block)
    flush()
    return cells


def to_notebook(qmd: Path) -> nbformat.NotebookNode:
    """The report as a notebook (not yet executed): title, text, code cells with captions."""
    meta, body = split_front_matter(expand_includes(qmd))
    body = _apply_divs(body)
    numbering = Numbering.of(body)
    cells = []
    if meta.get("title"):
        subtitle = f"\n\n*{meta['subtitle']}*" if meta.get("subtitle") else ""
        cells.append(nbformat.v4.new_markdown_cell(f"# {meta['title']}{subtitle}"))
    position, heading_numbers = 0, iter(numbering.headings)
    for match in CHUNK.finditer(body):
        cells += _markdown_cells(body[position:match.start()], numbering, heading_numbers)
        code = match.group(1).rstrip()
        options = chunk_options(code)
        source = "\n".join(line for line in code.splitlines() if not OPTION.match(line)).strip("\n")
        cell = nbformat.v4.new_code_cell(source)
        label = options.get("label", "")
        if label.startswith("tbl-") and "tbl-cap" in options:
            cells.append(nbformat.v4.new_markdown_cell(f"*{numbering.labels[label]}: {options['tbl-cap']}*"))
        if options.get("include") == "false" or options.get("echo") == "false":
            _hide_source(cell)
            if options.get("include") == "false":
                cell.metadata["tags"].append("remove_cell")
        cells.append(cell)
        if label.startswith("fig-") and "fig-cap" in options:
            cells.append(nbformat.v4.new_markdown_cell(f"*{numbering.labels[label]}: {options['fig-cap']}*"))
        position = match.end()
    cells += _markdown_cells(body[position:], numbering, heading_numbers)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["colab"] = {"provenance": []}
    return notebook


PRELUDE = "from pixelcnn.notebook import md  # displays the text of the report with its computed values"


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every code cell in a fresh kernel (after a hidden prelude that defines ``md``)."""
    import subprocess

    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})

    def scratch(source: str) -> nbformat.NotebookNode:  # a cell run outside the notebook's own cells
        cell = nbformat.v4.new_code_cell(source)
        notebook.cells.append(cell)  # nbclient stores an executed cell back at its index
        try:
            return client.execute_cell(cell, len(notebook.cells) - 1, store_history=False)
        finally:
            notebook.cells.pop()

    with client.setup_kernel(stderr=subprocess.DEVNULL):
        scratch(PRELUDE)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        probe = scratch("import json\nfrom pixelcnn import cache\nprint(json.dumps(cache.entries_read()), end='')")
    notebook.metadata["pixelcnn_entries_read"] = json.loads(probe.outputs[0]["text"])
    return notebook


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


def _pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each name, from requirements.txt (the versions the report was built with)."""
    lines = (project_root() / "requirements.txt").read_text().splitlines()
    versions = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return [f"{name}=={versions[name]}" for name in names]


def payload(entries: list[str]) -> str:
    """The package source and the named cache entries as a base64 tar.xz archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            tar.add(path, arcname=f"code/pixelcnn/{path.name}")
        for name in entries:
            tar.add(cache_dir() / name, arcname=f"cache/{name}")
    return base64.b64encode(buffer.getvalue()).decode()


def compute_hours(entries: list[str]) -> float:
    """Hours it took to compute the named cache entries, from their manifests (training: every segment)."""
    manifests = [json.loads((cache_dir() / name / "manifest.json").read_text()) for name in entries]
    return sum(map(cache.compute_seconds, manifests)) / 3600


def setup_cell(entries: list[str]) -> nbformat.NotebookNode:
    """The collapsed first code cell: pinned packages, the package source and the shipped results."""
    hours = compute_hours(entries)
    source = f'''#@title Set-up: run first (packages, the pixelcnn package, the results) {{ display-mode: "form" }}
#@markdown By default the report's results are unpacked from this notebook and nothing is trained:
#@markdown "Run all" takes a few minutes on a CPU. Tick RETRAIN to recompute every model and estimate
#@markdown instead (they took {hours:.0f} hours on a small CPU, far less on a GPU); the text follows the new results.
RETRAIN = False  #@param {{type:"boolean"}}
import base64, importlib.util, io, os, subprocess, sys, tarfile

PINNED = {_pinned(SETUP_PACKAGES)!r}
missing = [p for p in PINNED if importlib.util.find_spec(p.split("==")[0]) is None]
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
PAYLOAD = "{payload(entries)}"
with tarfile.open(fileobj=io.BytesIO(base64.b64decode(PAYLOAD)), mode="r:xz") as archive:
    archive.extractall("pixelcnn_files", **({{"filter": "data"}} if hasattr(tarfile, "data_filter") else {{}}))
sys.path.insert(0, os.path.abspath("pixelcnn_files/code"))
os.environ["PIXELCNN_CACHE"] = os.path.abspath("pixelcnn_retrained" if RETRAIN else "pixelcnn_files/cache")
if RETRAIN:
    os.environ["PIXELCNN_TRAIN"] = "1"
{PRELUDE}
'''
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["cellView"] = "form"
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["tags"] = ["remove_cell"]
    return cell


def submission(qmd: Path | None = None, cwd: Path | None = None) -> nbformat.NotebookNode:
    """The notebook to submit: the report executed, with the set-up cell after its title."""
    root = project_root()
    notebook = execute(to_notebook(qmd or root / "report.qmd"), cwd=cwd or root)
    problems = outputs_with_problems(notebook)
    if problems:
        raise RuntimeError("the report shows errors or warnings:\n" + "\n".join(problems))
    notebook.cells.insert(1, setup_cell(notebook.metadata.pop("pixelcnn_entries_read")))
    return notebook
