"""The report as a Jupyter notebook, built from the same sources as the Quarto render.

``to_notebook`` turns ``report.qmd`` and its chapters into a notebook that reads like the rendered report:
sections numbered and cross-references resolved as Quarto does, captions, callouts as framed paragraphs, only
the content meant for a notebook, and each answer's code (``listing.answer``) as a code cell that runs. A
paragraph with inline `` `{python} name` `` values becomes a cell ``md(...)`` whose output is the paragraph
with the values; ``submission`` makes it a Markdown cell. A ``retrained_text`` cell closes each chapter: with
RETRAIN it shows the chapter's paragraphs again with the recomputed values.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from .listing import source_cell

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
LISTING = re.compile(r'listing[.]answer[(]"([^"]+)"[)]')  # a chunk that shows (and defines) an answer's code
KINDS, FORMAT = {"fig": "Figure", "tbl": "Table", "sec": "Section"}, "ipynb"
TEXT_ROLE, RETRAINED_ROLE = "text", "retrained"  # cell roles, in cell.metadata["pixelcnn"]["role"]


def expand_includes(path: Path) -> str:
    """The text of a .qmd file with its ``{{< include >}}`` shortcodes replaced, recursively."""
    return INCLUDE.sub(lambda m: expand_includes(path.parent / m.group(1)), path.read_text())


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


def render(text: str, namespace: dict) -> str:
    """Markdown ``text`` with its inline `` `{python} expr` `` values computed in ``namespace``; each must be
    formatted text (a ``str``), so that no repr of a NumPy or torch scalar can reach the reader."""

    def value(match: re.Match) -> str:
        result = eval(match.group(1), namespace)  # noqa: S307 - the report's own inline expressions
        if not isinstance(result, str):
            raise TypeError(f"inline value {match.group(1)!r} is a {type(result).__name__}, not formatted text; "
                            f"format it in the source (e.g. an f-string)")
        return result

    return INLINE.sub(value, text)


def _caller_namespace() -> dict:
    return {**(caller := inspect.currentframe().f_back.f_back).f_globals, **caller.f_locals}


def md(text: str) -> None:
    """Display Markdown ``text`` with its inline values computed in the caller's namespace (``render``)."""
    from IPython.display import Markdown, display

    display(Markdown(render(text, _caller_namespace())))


def retrained_text(group: int) -> None:
    """With RETRAIN, show again the paragraphs with computed values of the chapter this cell closes, as
    they read with the recomputed results (those whose text changed), below a one-line note.

    The paragraphs (their templates and the text the notebook was built with) are in the file named
    by ``PIXELCNN_TEXT``, which the set-up cell unpacks; without RETRAIN this shows nothing.
    """
    from IPython.display import Markdown, display

    if os.environ.get("PIXELCNN_TRAIN") != "1" or not os.environ.get("PIXELCNN_TEXT"):
        return
    namespace = _caller_namespace()
    paragraphs = json.loads(Path(os.environ["PIXELCNN_TEXT"]).read_text())[str(group)]
    changed = [new for p in paragraphs if (new := render(p["template"], namespace)) != p["built"]]
    note = ("**Recomputed (RETRAIN).** The paragraphs of this chapter whose numbers changed now read:"
            if changed else "**Recomputed (RETRAIN).** The numbers in this chapter's text are unchanged.")
    display(Markdown("\n\n".join([note, *changed])))


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
            if len(level) == 1:  # a chapter starts in a cell of its own (its predecessor's text is closed)
                flush()
            number = next(heading_numbers)
            block = (f"{level} {number} {title}" if number else f"{level} {title}") + (f"\n{rest}" if rest else "")
        block = numbering.resolve(block)
        if INLINE.search(block):
            flush()
            quote = '"""' if '"""' not in block else "'''"
            cell = nbformat.v4.new_code_cell(f"md(r{quote}{block}{quote})")
            _hide_source(cell)
            cell.metadata["pixelcnn"] = {"role": TEXT_ROLE, "template": block}
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
        listed = LISTING.fullmatch(source)
        if listed:  # an answer's code: in the notebook, the code itself, run there
            cells.append(nbformat.v4.new_code_cell(source_cell(listed.group(1))))
            position = match.end()
            continue
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
    notebook = nbformat.v4.new_notebook(cells=_close_chapters(cells))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["colab"] = {"provenance": []}
    return notebook


def _close_chapters(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """``cells`` with a hidden ``retrained_text(k)`` cell before each chapter heading and at the end,
    wherever the cells before it (since the last one) hold paragraphs with computed values."""
    out, group, pending = [], 0, False

    def close() -> None:
        nonlocal group, pending
        if pending:
            cell = nbformat.v4.new_code_cell(f"retrained_text({group})")
            _hide_source(cell)
            cell.metadata["pixelcnn"] = {"role": RETRAINED_ROLE, "group": group}
            out.append(cell)
            group, pending = group + 1, False

    for cell in cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# ") and out:
            close()
        pending |= cell.metadata.get("pixelcnn", {}).get("role") == TEXT_ROLE
        out.append(cell)
    close()
    return out
