"""Any conditioning image explored: the precomputed entry (``q3.explorer``), the notebook's live panel and the
HTML's figure (``report.explorer``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pixelcnn import build
from pixelcnn.core import inference as inf
from pixelcnn.q3 import explorer as explored
from pixelcnn.q3.setting import KINDS, MIDDLE, MIDDLE_INDEX, kind
from pixelcnn.report import explorer as explore
from pixelcnn.report import plots
from pixelcnn.report.build import find_quarto
from pixelcnn.report.explorer_panel import Panel
from pixelcnn.study import cache, runs
from pixelcnn.study.data import load_images
from pixelcnn.study.settings import project_root

ROOT = project_root()
TINY_BUDGET = {"reverse_proposals": 2, "completions": 2, "top_proposals": 3}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def committed() -> explored.Explored:
    """The committed entry of the full profile (never computed here)."""
    assert cache.lookup("estimate", explored.results.inputs(), root=ROOT / "cache") is not None, "no committed entry"
    return explored.results()


@pytest.fixture
def committed_cache(monkeypatch):
    monkeypatch.delenv("PIXELCNN_PROFILE", raising=False)
    monkeypatch.setenv("PIXELCNN_CACHE", str(ROOT / "cache"))


@pytest.fixture(scope="module")
def tiny():
    """A tiny forward and reverse model (random, 28x28, 256 levels) and answers for test image 0 made with them."""
    torch.manual_seed(0)
    models = tuple(build("simple", layers=2, channels=8).eval() for _ in range(2))
    x = load_images("test")[:1].long()
    generator = torch.Generator().manual_seed(0)
    pool = torch.zeros(TINY_BUDGET["top_proposals"], 1, 28, 28, dtype=torch.long)
    found = explored.answers(*models, x, MIDDLE_INDEX, TINY_BUDGET, generator, pool)
    fields = {k: v for k, v in found.items() if k not in ("seconds", "g_pool", "d_method")}
    precomputed = explored.Explored(inputs={"budget": TINY_BUDGET}, indices=torch.tensor([0]),
                                    digits=explored.test_digits()[:1], images=x, seconds=found["seconds"], **fields)
    return models, precomputed


def test_the_images_are_the_first_of_every_digit_and_kind_of_middle_pixel():
    chosen = runs.BUDGETS["full"]["explore"]["images"]
    assert chosen == explored.choose_images()
    middle = load_images("test")[list(chosen), 0, MIDDLE[0], MIDDLE[1]].tolist()
    pairs = {(d, kind(v)) for d, v in zip(explored.test_digits()[list(chosen)].tolist(), middle, strict=True)}
    assert pairs == {(d, k) for d in range(10) for k in KINDS}
    assert {0, 2, 6} <= set(chosen)  # the (d) images of chapter 3: black, on a stroke, on an edge


def test_the_committed_entry_holds_distributions_and_completions(committed_cache):
    r = committed()
    n_images, n = len(runs.budget()["explore"]["images"]), runs.budget()["explore"]["completions"]
    assert r.images.shape == (n_images, 1, 28, 28) and r.indices.tolist() == list(runs.budget()["explore"]["images"])
    assert torch.equal(r.images, load_images("test")[r.indices].long())
    assert torch.equal(r.digits, explored.test_digits()[r.indices])
    for p in (r.c, r.d, r.e):
        assert p.shape == (n_images, 256) and (p >= 0).all()
        torch.testing.assert_close(p.sum(1), torch.ones(n_images, dtype=p.dtype))
    assert r.f.shape == r.g.shape == (n_images * n, 1, 28, 28)
    given = r.images.repeat_interleave(n, 0)
    assert torch.equal(r.f[:, :, :14], given[:, :, :14]) and torch.equal(r.g[:, :, 14:], given[:, :, 14:])
    assert ((1 <= r.d_ess) & (r.d_ess <= runs.budget()["explore"]["reverse_proposals"] + 1e-6)).all()
    assert ((1 <= r.g_ess) & (r.g_ess <= runs.budget()["explore"]["top_proposals"] + 1e-6)).all()


def test_the_committed_c_and_e_are_the_exact_computations(committed_cache, course_checkpoint):
    r = committed()
    model = runs.load("pretrained")
    torch.testing.assert_close(r.c, inf.conditional(model, r.images, MIDDLE_INDEX), rtol=1e-4, atol=1e-7)
    k = r.indices.tolist().index(6)  # one image: 256 passes
    torch.testing.assert_close(r.e[k:k + 1], inf.full_conditional(model, r.images[k:k + 1], MIDDLE_INDEX),
                               rtol=1e-4, atol=1e-7)


def test_the_panel_computes_another_image_live_and_shows_it(tiny):
    models, precomputed = tiny
    panel = Panel(precomputed, models=models, b=TINY_BUDGET)
    first = panel.image
    found = panel.update(7, (10, 12))
    x, index = load_images("test")[7:8].long(), inf.raster_index((10, 12), 28)
    assert panel.image != first and panel.found is found and "#7" in panel.message
    assert torch.equal(found["c"], inf.conditional(models[0], x, index))
    assert torch.equal(found["e"], inf.full_conditional(models[0], x, index))
    for key in ("c", "d", "e"):
        torch.testing.assert_close(found[key].sum(1), torch.ones(1, dtype=found[key].dtype))
    assert torch.equal(found["f"][:, :, :14], x[:, :, :14].expand(2, -1, -1, -1))
    assert torch.equal(found["g"][:, :, 14:], x[:, :, 14:].expand(2, -1, -1, -1))
    assert found["seconds"]["total"] > 0


def test_the_panel_controls_choose_a_digit_and_compute(tiny):
    models, precomputed = tiny
    panel = Panel(precomputed, models=models, b=TINY_BUDGET)
    panel._make_controls()
    controls = panel.controls
    controls["digit"].value = 3  # the first test image of a 3 after image 0
    assert controls["index"].value == int(torch.nonzero(explored.test_digits() == 3)[0, 0])
    assert controls["digit"].value == -1  # ready for the next choice
    controls["row"].value, controls["col"].value = 5, 6
    controls["button"].click()
    assert panel.found is not None and f"#{controls['index'].value} at pixel (5, 6)" in panel.message
    controls["index"].value = 10_000 - 1
    controls["button"].click()  # the last test image works too
    assert "#9999" in panel.message


def test_the_html_figure_lists_every_image_and_shows_one(tiny):
    _, precomputed = tiny
    markup = explore.html_panel(precomputed).data
    assert markup.startswith("```{=html}") and "http" not in markup
    assert markup.count("<img ") == len(precomputed.images) == markup.count("<option ")
    assert markup.count("display: none") == len(precomputed.images) - 1


@pytest.mark.slow
def test_the_html_page_changes_its_figure_when_another_image_is_chosen(tmp_path, committed_cache):
    """Quarto renders the figure in a page like the report's (self-contained); Chromium opens it from disk with
    every network request refused, a person picks another image and sees another figure."""
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium): the HTML's interactive figure is not checked")
    quarto = find_quarto(install=False)
    if quarto is None:
        pytest.skip("no Quarto found: the HTML's interactive figure is not checked")
    committed()
    page_source = tmp_path / "explore.qmd"
    page_source.write_text(EXPLORE_PAGE)
    command, env = quarto
    done = subprocess.run([*command, "render", str(page_source), "--to", "html"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "QUARTO_PYTHON": sys.executable, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "explore.html").read_text()
    assert not re.search(r"<script[^>]+src=[\"']https?://", page), "a script is loaded from the web"
    shots = screenshots(tmp_path / "explore.html", tmp_path, playwright)
    assert shots["requests"] == [], f"the page asked the network for {shots['requests']}"
    assert shots["before"]["index"] == "0" and shots["after"]["index"] == "6"
    assert shots["before"]["src"] != shots["after"]["src"] and shots["before"]["png"] != shots["after"]["png"]
    assert shots["after"]["visible"] == 1 and shots["after"]["width"] > 400


EXPLORE_PAGE = """---
title: explore
format:
  html:
    embed-resources: true
execute:
  echo: false
jupyter: python3
---

```{python}
from pixelcnn.q3 import explorer as explored
from pixelcnn.report import explorer as explore, plots
plots.use_style()
explore.html_panel(explored.results())
```
"""


def screenshots(path: Path, folder: Path, playwright) -> dict:
    """Open ``path`` offline in headless Chromium, choose test image #6; what is shown before and after."""
    shown = """() => { const img = [...document.querySelectorAll('#q3-explore img')].filter(i => i.offsetParent);
                      return {index: img[0].dataset.index, src: img[0].src.slice(-200), visible: img.length,
                              width: img[0].getBoundingClientRect().width}; }"""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests: list[str] = []
        page.route(re.compile(r"^(?!file:).*"), lambda route: (requests.append(route.request.url), route.abort()))
        page.goto(path.as_uri())
        figure = page.locator("#q3-explore")
        out = {"before": {**page.evaluate(shown), "png": figure.screenshot(path=folder / "before.png")}}
        page.select_option("#q3-explore-choice", "6")
        out["after"] = {**page.evaluate(shown), "png": figure.screenshot(path=folder / "after.png")}
        browser.close()
    out["requests"] = requests
    return out


def test_the_figure_png_is_small(tiny):
    _, precomputed = tiny
    data = plots.png(explore.entry_figure(precomputed, 0))
    assert data.startswith(b"\x89PNG") and len(data) < 40_000  # 60 of them stay well under the 3 MB the HTML may grow


def test_quarto_format_is_read_only_in_the_kernel_quarto_executes(tmp_path, monkeypatch):
    info = tmp_path / "info.json"
    info.write_text('{"format": {"identifier": {"base-format": "typst"}}}')
    monkeypatch.delenv("QUARTO_FIG_FORMAT", raising=False)
    monkeypatch.setenv("QUARTO_EXECUTE_INFO", str(info))  # what a post-render step (the notebook's build) inherits
    assert explore.quarto_format() is None
    monkeypatch.setenv("QUARTO_FIG_FORMAT", "png")  # set by Quarto's Jupyter engine for its kernels
    assert explore.quarto_format() == "typst"
    assert explore.html_panel(None) is None  # hidden there: nothing is drawn


def test_the_panel_in_a_kernel_shows_a_figure_and_replaces_it_on_update(tmp_path):
    """As in a notebook: the panel's cell shows its controls (text where widgets are not drawn) and a figure;
    a later ``update`` replaces that figure in place (the display is updated, not appended)."""
    import nbformat
    from nbclient import NotebookClient

    cells = ["""import torch
from pixelcnn import build
from pixelcnn.q3 import explorer as explored
from pixelcnn.q3.setting import MIDDLE_INDEX
from pixelcnn.report.explorer_panel import Panel
from pixelcnn.study.data import load_images
torch.manual_seed(0)
models = tuple(build("simple", layers=2, channels=8).eval() for _ in range(2))
b = {"reverse_proposals": 2, "completions": 2, "top_proposals": 3, "dropped": 1e-3}
x = load_images("test")[:1].long()
found = explored.answers(*models, x, MIDDLE_INDEX, b, torch.Generator(), torch.zeros(3, 1, 28, 28, dtype=torch.long))
fields = {k: v for k, v in found.items() if k not in ("seconds", "g_pool", "d_method")}
precomputed = explored.Explored(inputs={"budget": b}, indices=torch.tensor([0]), digits=explored.test_digits()[:1],
                                images=x, seconds={}, **fields)
panel = Panel(precomputed, models=models, b=b)
panel.show()""", "found = panel.update(7, (10, 12))"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    before = None
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    with client.setup_kernel():
        client.execute_cell(notebook.cells[0], 0)
        before = [o.get("data", {}).get("image/png") for o in notebook.cells[0].outputs]
        client.execute_cell(notebook.cells[1], 1)
    outputs = notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"] * 3 and notebook.cells[1].outputs == []
    assert "application/vnd.jupyter.widget-view+json" in outputs[0].data
    assert "run this cell" in outputs[0].data["text/plain"]
    assert before[1] and outputs[1].data["image/png"] != before[1]  # the figure was replaced by image 7's
    assert "Computed live" in outputs[2].data["text/markdown"] and "#7" in outputs[2].data["text/markdown"]
