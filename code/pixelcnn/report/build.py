"""Building the report: ``quarto render`` when a Quarto can be found, else a Quarto-free preview.

Quarto renders ``_site/report.html`` and ``_site/report.pdf`` (Typst); its post-render step
(``_notebook.py``) writes the notebook to submit, ``_site/report.ipynb`` (see ``notebook``).
Quarto is looked for on the PATH, then beside the repository (``../shared/tools/quarto``, set up on
first use), then installed into the environment with ``pip install quarto-cli``. Without any, the
same notebook is built and a preview HTML is made from it (``_site/report-preview.html``).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from ..study import cache, runs
from ..study.provenance import source_hash
from ..study.settings import PACKAGE_DIR, cache_dir, project_root
from .notebook import to_notebook
from .submission import execute, submission

SITE = "_site"


class ReportError(RuntimeError):
    """The report cannot be built; the message says why and what to do."""


def _bundled_quarto(root: Path) -> tuple[list[str], dict[str, str]] | None:
    """A Quarto CLI kept beside the repository, set up (its tools installed) on first use."""
    bundle = root.parent / "shared" / "tools" / "quarto"
    if not (bundle / "bin" / "quarto").exists():
        return None
    env = {}
    if not os.access(bundle, os.W_OK):  # its tools go to a writable folder of the user's
        env["QUARTO_BUNDLE_TOOLS"] = os.environ.get("QUARTO_BUNDLE_TOOLS") or str(
            Path.home() / ".cache" / "pixelcnn" / "quarto-tools")
    tools = Path(env.get("QUARTO_BUNDLE_TOOLS") or bundle / "tools")
    if not (tools / "pandoc").exists() and not any(tools.glob("*pandoc*")):
        print("setting up the Quarto CLI found beside the repository (once, about a minute)", flush=True)
        done = subprocess.run([str(bundle / "setup")], env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode != 0:
            return None
    return [str(bundle / "bin" / "quarto")], env


def find_quarto(install: bool = True) -> tuple[list[str], dict[str, str]] | None:
    """The command that runs Quarto and the environment it needs, or None with no Quarto to be had."""
    if shutil.which("quarto"):
        return ["quarto"], {}
    bundled = _bundled_quarto(project_root())
    if bundled:
        return bundled
    venv_quarto = Path(sys.executable).parent / "quarto"
    if install and not venv_quarto.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "quarto-cli"], capture_output=True)
    if venv_quarto.exists() and subprocess.run([str(venv_quarto), "--version"], capture_output=True).returncode == 0:
        return [str(venv_quarto)], {}
    return None


def render(quarto: list[str], env: dict[str, str]) -> list[Path]:
    """``quarto render`` of the project with this environment's Python: HTML, PDF and the notebook."""
    root = project_root()
    done = subprocess.run([*quarto, "render"], cwd=root, env={**os.environ, "QUARTO_PYTHON": sys.executable, **env})
    if done.returncode != 0:
        raise ReportError(f"quarto render failed (exit {done.returncode}); its messages are above")
    return sorted((root / SITE).glob("report.*"))


def write_notebook(out: Path | None = None) -> Path:
    """Execute the report and write the notebook to submit (``_site/report.ipynb``)."""
    out = Path(out or project_root() / SITE)
    out.mkdir(parents=True, exist_ok=True)
    print("executing the report for the notebook to submit", flush=True)
    nbformat.write(submission(), out / "report.ipynb")
    return out / "report.ipynb"


def preview_html(notebook_path: Path, path: Path) -> None:
    """A preview HTML of the executed notebook (hidden code and set-up cells left out)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    notebook = nbformat.read(notebook_path, as_version=4)
    banner = nbformat.v4.new_markdown_cell(
        "> **Preview build.** Quarto was not available, so this page was made from the notebook of the report "
        "(the same sources, executed with Jupyter); `quarto render` gives the finished HTML and PDF.")
    notebook.cells.insert(1, banner)
    exporter = HTMLExporter(embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"remove_cell"},
                                                         remove_input_tags={"remove_input"}), enabled=True)
    html, _ = exporter.from_notebook_node(notebook)
    path.write_text(html)


def build() -> list[Path]:
    """Render with Quarto if one can be found; otherwise the notebook to submit and a preview HTML."""
    quarto = find_quarto()
    if quarto:
        return render(*quarto)
    print("Quarto is not installed and could not be installed: building the notebook and a preview HTML instead.")
    notebook = write_notebook()
    preview = notebook.with_name("report-preview.html")
    preview_html(notebook, preview)
    return [notebook, preview]


def commit_sources(root: Path | None = None) -> dict[str, str]:
    """Package-source hash (``provenance.source_hash``) -> the first commit with that source, over the whole
    history of HEAD (merged branches included); empty without git (e.g. in the notebook, away from the repository)."""
    root = root or project_root()
    package = PACKAGE_DIR.relative_to(root).as_posix()
    try:
        # --full-history: also the commits of merged branches whose changes the merge kept as they were
        commits = subprocess.run(["git", "rev-list", "--reverse", "--full-history", "HEAD", "--", package],
                                 cwd=root, capture_output=True, text=True, timeout=60, check=True).stdout.split()
        sources = {}
        for commit in commits:
            tree = subprocess.run(["git", "ls-tree", "-r", commit, f"{package}/"], cwd=root, capture_output=True,
                                  text=True, timeout=60, check=True).stdout
            blobs = {Path(path).relative_to(package).as_posix(): line.split()[2] for line in tree.splitlines()
                     for path in [line.split("\t", 1)[1]] if path.endswith(".py")}
            sources.setdefault(source_hash(PACKAGE_DIR, blobs), commit)
        return sources
    except (OSError, subprocess.SubprocessError):
        return {}


def code_of(manifest: dict, sources: dict[str, str]) -> str:
    """Which committed code computed an entry: "abc1234" (a commit whose package source it ran), "no commit"
    (its source matches none), or, for entries that record no source hash, their commit with "+ changes" when
    the working tree differed from it then."""
    if "source_sha256" in manifest:
        if not sources:
            return "not checked"
        match = sources.get(manifest["source_sha256"])
        return match[:7] if match else "no commit"
    commit = (manifest.get("commit") or "none")[:7]
    return f"{commit} + changes" if manifest.get("uncommitted_changes") else commit


def provenance_table():
    """One row per cache entry: what it is (the named run for training entries), its main metric, the
    compute minutes (for training: summed over every resumed segment), device and the code that made it."""
    import json

    import pandas as pd

    sources, rows = commit_sources(), []
    for manifest_path in sorted(cache_dir().glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text())
        metrics = m.get("metrics", {})
        seconds = cache.compute_seconds(m)
        what = " / ".join(runs.names_of(m["config"])) if m["kind"] == "train" else ""
        rows.append({"entry": manifest_path.parent.name, "run": what or "–", "test bits/dim": metrics.get("test_bpd"),
                     "minutes": seconds / 60, "device": m["hardware"]["device"], "code": code_of(m, sources)})
    return pd.DataFrame(rows)


def _docstring_summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def module_list():
    """The package's modules as a Markdown list: name, length and what each is for."""
    from IPython.display import Markdown

    return Markdown("\n".join(f"- `{p.relative_to(PACKAGE_DIR).as_posix()}` ({len(p.read_text().splitlines())} lines): "
                               f"{_docstring_summary(p)}" for p in sorted(PACKAGE_DIR.rglob("*.py"))))


def render_seconds() -> float:
    """Seconds to execute the whole report in a fresh kernel with the current (warm) cache."""
    start = time.perf_counter()
    execute(to_notebook(project_root() / "report.qmd"), cwd=project_root())
    return time.perf_counter() - start
