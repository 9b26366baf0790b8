"""The notebook to submit: the report executed, its text as Markdown, what it reads shipped inside.

``submission`` executes the report's notebook (``notebook.to_notebook``) in a fresh kernel, then makes
every paragraph with computed values, and every hidden cell that only shows Markdown (the code
listings), a Markdown cell, so the text reads in any viewer. After the title it puts a collapsed
set-up cell, which installs what a fresh runtime (Colab) lacks, and a few collapsed cells of at most
``PART_CHARS`` characters that carry the ``pixelcnn`` package and exactly the cache files the report
read (base64 tar.xz), so "Run all" works alone in an empty folder without retraining. Files it did
not read (the weights of models the notebook never runs) are left out, and their entries say so when
one is asked for. RETRAIN recomputes everything instead; each chapter's text then follows at its end
(``notebook.retrained_text``).
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import nbformat

from ..study import cache
from ..study.settings import PACKAGE_DIR, cache_dir, project_root
from .listing import FOLD_CLOSE, FOLD_OPEN
from .notebook import RETRAINED_ROLE, TEXT_ROLE, to_notebook

# What a fresh runtime may lack, pinned to the versions of requirements.txt.
SETUP_PACKAGES = ("lightning", "seaborn", "tabulate", "ipywidgets")
PART_CHARS = 900_000  # the payload's characters per cell (a notebook cell stays under 1 MB)
TEXT_FILE = "text.json"  # in the payload: each chapter's paragraphs, as templates and as built
OMITTED_REASON = ("left out of the notebook to keep it light; tick RETRAIN in the set-up cell to recompute it, "
                  "or use the repository, whose cache/ has it")
PRELUDE = "from pixelcnn.report.notebook import md, retrained_text  # the report's text with its computed values"


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every code cell in a fresh kernel (after a hidden prelude that defines ``md``).

    Records the cache entries the run read (``metadata["pixelcnn_entries_read"]``: entry -> files) and
    checks that each chapter's paragraphs read the same at its ``retrained_text`` cell as where they
    stand (a name rebound in between would make RETRAIN's text wrong).
    """
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})

    def scratch(source: str) -> str:  # a cell run outside the notebook's own cells; its printed text
        cell = nbformat.v4.new_code_cell(source)
        notebook.cells.append(cell)  # nbclient stores an executed cell back at its index
        try:
            outputs = client.execute_cell(cell, len(notebook.cells) - 1, store_history=False).outputs
        finally:
            notebook.cells.pop()
        return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")

    with client.setup_kernel(stderr=subprocess.DEVNULL):
        scratch(PRELUDE)
        texts: list[nbformat.NotebookNode] = []
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            role = _role(cell)
            if role == TEXT_ROLE:
                texts.append(cell)
            elif role == RETRAINED_ROLE:
                _check_chapter_text(texts, scratch)
                texts = []
        entries = scratch("import json\nfrom pixelcnn.study import cache\n"
                          "print(json.dumps(cache.entries_read()), end='')")
    notebook.metadata["pixelcnn_entries_read"] = json.loads(entries)
    return notebook


def _role(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("pixelcnn", {}).get("role")


def shown_markdown(cell: nbformat.NotebookNode) -> str | None:
    """The Markdown an executed code cell shows, when that is all it shows (else None)."""
    outputs = cell.get("outputs", [])
    if len(outputs) == 1 and "text/markdown" in outputs[0].get("data", {}):
        return outputs[0]["data"]["text/markdown"]
    return None


def _check_chapter_text(texts: list[nbformat.NotebookNode], scratch) -> None:
    """Each paragraph rendered in the kernel's namespace now equals the text its own cell showed."""
    if not texts:
        return
    encoded = base64.b64encode(json.dumps([c.metadata["pixelcnn"]["template"] for c in texts]).encode()).decode()
    again = json.loads(scratch(
        "import base64 as _b, json as _j\nfrom pixelcnn.report.notebook import render as _r\n"
        f"print(_j.dumps([_r(t, globals()) for t in _j.loads(_b.b64decode('{encoded}'))]), end='')"))
    for cell, text in zip(texts, again, strict=True):
        if text != shown_markdown(cell):
            raise RuntimeError("a paragraph reads differently at the end of its chapter than where it stands "
                               f"(a name it uses is rebound in between; give it its own name): {text[:200]!r}")


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


def _unfold(markdown: str) -> str:
    """A listing's folded blocks (HTML ``<details>``) as plain titled blocks, for a notebook's Markdown."""
    markdown = re.sub(re.escape(FOLD_OPEN) + r"(.*?)" + re.escape(FOLD_CLOSE), r"**\1**", markdown)
    return markdown.replace("\n\n</details>", "")


def as_markdown(notebook: nbformat.NotebookNode) -> dict[str, list[dict[str, str]]]:
    """Turn the executed text cells and Markdown-only hidden cells into Markdown cells, in place.

    Returns each chapter's paragraphs (group -> [{"template", "built"}]) for ``retrained_text``.
    """
    groups: dict[str, list[dict[str, str]]] = {}
    paragraphs: list[dict[str, str]] = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        shown, role = shown_markdown(cell), _role(cell)
        if role == TEXT_ROLE:
            paragraphs.append({"template": cell.metadata["pixelcnn"]["template"], "built": shown})
            notebook.cells[index] = nbformat.v4.new_markdown_cell(shown)
        elif role == RETRAINED_ROLE:
            groups[str(cell.metadata["pixelcnn"]["group"])], paragraphs = paragraphs, []
        elif shown is not None and cell.metadata.get("jupyter", {}).get("source_hidden"):
            notebook.cells[index] = nbformat.v4.new_markdown_cell(_unfold(shown))
    return groups


def _pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each name, from requirements.txt (the versions the report was built with)."""
    lines = (project_root() / "requirements.txt").read_text().splitlines()
    versions = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return [f"{name}=={versions[name]}" for name in names]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def payload(entries: dict[str, list[str]], text: dict) -> str:
    """Base64 tar.xz of the package source, the named cache entries (their manifest and the listed files;
    the others named in the entry's ``omitted.json``) and the chapters' paragraphs (``TEXT_FILE``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            tar.add(path, arcname=f"code/pixelcnn/{path.relative_to(PACKAGE_DIR).as_posix()}")
        for name, files in entries.items():
            folder = cache_dir() / name
            manifest = json.loads((folder / "manifest.json").read_text())
            tar.add(folder / "manifest.json", arcname=f"cache/{name}/manifest.json")
            for file in files:
                tar.add(folder / file, arcname=f"cache/{name}/{file}")
            left_out = sorted(set(manifest["files"]) - set(files))
            if left_out:
                omitted = {"files": left_out, "reason": OMITTED_REASON}
                _add_bytes(tar, f"cache/{name}/{cache.OMITTED}", json.dumps(omitted, indent=1).encode())
        _add_bytes(tar, TEXT_FILE, json.dumps(text).encode())
    return base64.b64encode(buffer.getvalue()).decode()


def compute_hours(entries: list[str]) -> float:
    """Hours it took to compute the named cache entries, from their manifests (training: every segment)."""
    manifests = [json.loads((cache_dir() / name / "manifest.json").read_text()) for name in entries]
    return sum(map(cache.compute_seconds, manifests)) / 3600


def setup_cells(entries: dict[str, list[str]], text: dict) -> list[nbformat.NotebookNode]:
    """The collapsed set-up cell, then the cells that carry the payload (the last one unpacks it)."""
    hours = compute_hours(list(entries))
    encoded = payload(entries, text)
    parts = [encoded[i:i + PART_CHARS] for i in range(0, len(encoded), PART_CHARS)]
    setup = f'''#@title Set-up: run first (packages, the pixelcnn package, the results) {{ display-mode: "form" }}
#@markdown By default the report's results are unpacked from this notebook (the {len(parts)} collapsed cells below)
#@markdown and nothing is trained: "Run all" takes a minute or two on a CPU. Tick RETRAIN to recompute every model
#@markdown and estimate instead (they took {hours:.0f} hours on a 2-core CPU, far less on a GPU); the text of each
#@markdown chapter then follows the new results at the chapter's end.
RETRAIN = False  #@param {{type:"boolean"}}
import base64, importlib.util, io, os, subprocess, sys, tarfile

PINNED = {_pinned(SETUP_PACKAGES)!r}
missing = [p for p in PINNED if importlib.util.find_spec(p.split("==")[0]) is None]
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
PAYLOAD = []  # the package and the shipped results (base64 tar.xz), filled by the cells below


def unpack(parts):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode("".join(parts))), mode="r:xz") as archive:
        archive.extractall("pixelcnn_files", **({{"filter": "data"}} if hasattr(tarfile, "data_filter") else {{}}))
    sys.path.insert(0, os.path.abspath("pixelcnn_files/code"))
    os.environ["PIXELCNN_CACHE"] = os.path.abspath("pixelcnn_retrained" if RETRAIN else "pixelcnn_files/cache")
    os.environ["PIXELCNN_TEXT"] = os.path.abspath("pixelcnn_files/{TEXT_FILE}")
    if RETRAIN:
        os.environ["PIXELCNN_TRAIN"] = "1"
        print("RETRAIN: every model and estimate is recomputed as the cells below run (the shipped ones took "
              "{hours:.0f} hours on a 2-core CPU; a GPU is used when the runtime has one).")
'''
    cells = [_collapsed(setup)]
    for k, part in enumerate(parts, 1):
        last = "\nunpack(PAYLOAD)\n" + PRELUDE if k == len(parts) else ""
        cells.append(_collapsed(f'#@title The shipped results, part {k} of {len(parts)} (run with the set-up)\n'
                                f'PAYLOAD.append("{part}"){last}\n'))
    return cells


def _collapsed(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.update({"cellView": "form", "jupyter": {"source_hidden": True}, "tags": ["remove_cell"]})
    return cell


def submission(qmd: Path | None = None, cwd: Path | None = None) -> nbformat.NotebookNode:
    """The notebook to submit: the report executed, its text as Markdown, its title and the answers at a glance
    first, then the set-up cells."""
    root = project_root()
    notebook = execute(to_notebook(qmd or root / "report.qmd"), cwd=cwd or root)
    problems = outputs_with_problems(notebook)
    if problems:
        raise RuntimeError("the report shows errors or warnings:\n" + "\n".join(problems))
    text = as_markdown(notebook)
    # the opening (the answers at a glance), static text once executed, comes before the set-up: the report's
    # first code cell, its set-up chunk, moves after it, and the set-up and payload cells go before that
    first = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    end = first + 1
    while end < len(notebook.cells) and notebook.cells[end].cell_type == "markdown":
        end += 1
    opening = notebook.cells[first + 1:end]
    del notebook.cells[first + 1:end]
    notebook.cells[first:first] = opening + setup_cells(notebook.metadata.pop("pixelcnn_entries_read"), text)
    return notebook
