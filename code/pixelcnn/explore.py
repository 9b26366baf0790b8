"""Any conditioning image explored (Q3): (c)-(g) for a test image and a pixel of the reader's choice.

``results``: the answers precomputed for the test images of ``budget()["explore"]`` (one cache
entry), shown by ``html_panel`` in the HTML (choose an image and its figure appears: no server and no
script from the web). ``Panel``: the same answers computed live by the model in a notebook, for any
test image and pixel (ipywidgets). Both draw ``figure``. The methods are the report's answers: (c)
and (e) exact, (d) importance sampling with reverse-model proposals, (f) exact ancestral sampling,
(g) sampling-importance-resampling with prior proposals from one pool.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from . import cache, plots
from . import inference as inf
from .config import data_dir
from .data import ensure_mnist, load_images
from .q3 import HALF, MIDDLE, MODEL, SIZE, typed
from .runs import budget, default_device, identity, load_identity, trained
from .sampling import sample

KINDS = ("black", "stroke", "edge")
STROKE = 200  # a middle pixel at least this bright is on a stroke; one between 1 and STROKE - 1 on its edge
CHUNK = 16  # images per batch of the precomputation (on a CPU, larger batches are slower per image)
LABELS = {"c": "(c) given the pixels before (exact)", "d": "(d) given the pixels after (IS, reverse proposals)",
          "e": "(e) given all other pixels (exact)"}


def kind(value: int) -> str:
    """Where a middle pixel of grey level ``value`` lies: "black", on a "stroke" or on its "edge"."""
    return "black" if value == 0 else "stroke" if value >= STROKE else "edge"


def test_digits() -> torch.Tensor:
    """The digit of every test image: long [10000] (MNIST's labels)."""
    from torchvision.datasets import MNIST

    load_images("test")  # checks the files; when they are missing, says how to get them
    return MNIST(str(data_dir()), train=False, download=False).targets


def choose_images(per: int = 2) -> tuple[int, ...]:
    """The first ``per`` test images of every digit for each kind of middle pixel (``KINDS``), in test-set order."""
    middle = load_images("test")[:, 0, MIDDLE[0], MIDDLE[1]].tolist()
    digits, kinds = test_digits(), torch.tensor([KINDS.index(kind(v)) for v in middle])
    chosen = [i for digit in range(10) for k in range(len(KINDS))
              for i in torch.nonzero((digits == digit) & (kinds == k))[:per, 0].tolist()]
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class Explored:
    """(c)-(g) at the middle pixel for N test images, n completions each, and the seconds each quantity took."""

    indices: torch.Tensor  # long [N]: the test-set indices
    digits: torch.Tensor  # long [N]: their digits
    images: torch.Tensor  # long [N, 1, 28, 28]
    c: torch.Tensor  # [N, 256]: p(x_middle | before), exact
    d: torch.Tensor  # [N, 256]: p(x_middle | after), importance sampling with reverse-model proposals
    d_ess: torch.Tensor  # [N]
    e: torch.Tensor  # [N, 256]: p(x_middle | all others), exact
    f: torch.Tensor  # long [N * n, 1, 28, 28]: bottom halves sampled given the top
    g: torch.Tensor  # long [N * n, 1, 28, 28]: top halves given the bottom, SIR with prior proposals
    g_ess: torch.Tensor  # [N]
    seconds: dict

    def answers(self, k: int) -> dict[str, torch.Tensor]:
        """The answers for the k-th image, as ``answers`` gives them for one image."""
        n = len(self.f) // len(self.images)
        return {"c": self.c[k:k + 1], "d": self.d[k:k + 1], "e": self.e[k:k + 1], "d_ess": self.d_ess[k:k + 1],
                "f": self.f[k * n:(k + 1) * n], "g": self.g[k * n:(k + 1) * n], "g_ess": self.g_ess[k:k + 1]}


def results_inputs(seed: int = 0) -> dict:
    """Everything ``results`` depends on."""
    b = budget()["explore"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "pixel": list(MIDDLE),
            "images": list(b["images"]), "budget": {k: v for k, v in b.items() if k != "images"}, "seed": seed}


def results(seed: int = 0) -> Explored:
    """(c)-(g) for the test images of ``budget()["explore"]`` (cached; minutes on a CPU to compute)."""
    return typed(Explored, cache.tensors("estimate", results_inputs(seed), _compute))


def answers(model, reverse, x: torch.Tensor, index: int, b: dict, generator: torch.Generator,
            pool: torch.Tensor) -> dict:
    """(c)-(g) for images x (long [B, 1, H, W]) at raster pixel ``index``, with the seconds each took.

    c, d, e: [B, levels]; d_ess, g_ess: [B]; f, g: long [B * n, 1, H, W] (n = ``b["completions"]``).
    (d) draws ``b["reverse_proposals"]`` reverse-model completions per image; (g) resamples from
    ``pool``, prior samples of the top half (long [P, 1, H, W]).
    """
    out, seconds, clock, n = {}, {}, time.perf_counter(), b["completions"]

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name], clock = time.perf_counter() - clock, time.perf_counter()

    out["c"] = inf.conditional(model, x, index)
    lap("c")
    proposals = [inf.reverse_proposals(model, reverse, x[k:k + 1], index + 1, b["reverse_proposals"], generator)
                 for k in range(len(x))]
    out["d"] = torch.stack([inf.weighted_pixel_distribution(r.samples, r.weights, index, model.levels)
                            for r in proposals])
    out["d_ess"] = torch.stack([r.ess.cpu() for r in proposals])
    lap("d")
    out["e"] = inf.full_conditional(model, x, index)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=HALF, generator=generator).cpu()
    lap("f")
    tops = [inf.complete_top_half_sir(model, x[k:k + 1], pool, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]).cpu(), torch.stack([t.ess.cpu() for t in tops])
    lap("g")
    return {**out, "seconds": seconds}


def _compute(inputs: dict) -> dict:
    device, b = default_device(), inputs["budget"]
    model, reverse = load_identity(inputs["model"], device), load_identity(inputs["reverse"], device)
    generator, index = torch.Generator().manual_seed(inputs["seed"]), inf.raster_index(tuple(inputs["pixel"]), SIZE[1])
    x = load_images("test")[inputs["images"]].long()
    clock = time.perf_counter()
    pool = sample(model, b["top_proposals"], stop=HALF, generator=generator).cpu()
    pool_seconds = time.perf_counter() - clock
    parts = [answers(model, reverse, chunk, index, b, generator, pool) for chunk in x.split(CHUNK)]
    seconds = {k: sum(p["seconds"][k] for p in parts) for k in parts[0]["seconds"]}
    seconds["g"] += pool_seconds
    return {"indices": torch.tensor(inputs["images"]), "digits": test_digits()[inputs["images"]], "images": x,
            **{k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "seconds"}, "seconds": seconds}


# --- The figure of one image -----------------------------------------------------------------------


def title(index: int, digit: int, image: torch.Tensor, pixel: tuple[int, int]) -> str:
    value = int(image.view(-1)[inf.raster_index(pixel, image.shape[-1])])
    where = f"middle pixel {kind(value)}" if tuple(pixel) == MIDDLE else f"pixel {tuple(pixel)}"
    return f"Test image #{index}, a {digit}: {where} (grey level {value})"


def figure(image: torch.Tensor, found: dict, pixel: tuple[int, int], heading: str) -> plt.Figure:
    """One image's answers: the image (long [1, H, W], the pixel framed), (c)-(e) at the pixel on a log
    scale (the true value dotted), and the completions of (f) and (g) (the given half outlined)."""
    fig = plt.figure(figsize=(10, 4.3), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.55, 1])
    ax_image, ax_p = top.subplots(1, 2, width_ratios=[1, 4.5])
    ax_image.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=255)
    ax_image.add_patch(Rectangle((pixel[1] - 0.5, pixel[0] - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    ax_image.set_axis_off()
    for (key, label), color in zip(LABELS.items(), plots.PALETTE, strict=False):
        plots.distribution(ax_p, found[key][0], f"{label}, ESS {found['d_ess'][0]:.1f}" if key == "d" else label,
                           color)
    ax_p.axvline(int(image[0, pixel[0], pixel[1]]), color="red", ls=":", lw=1.2, label="true value")
    ax_p.set_ylim(1e-8, 1.5)
    ax_p.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    top.suptitle(heading, fontweight="bold")
    axes = bottom.subplots(1, 2)
    rows, x = image.shape[-2] // 2, image[None]
    plots.completions(x, found["f"], rows, "top", "(f) bottom half given the top (exact)", ax=axes[0])
    g_title = f"(g) top half given the bottom (SIR, ESS {found['g_ess'][0]:.1f})"
    plots.completions(x, found["g"], rows, "bottom", g_title, ax=axes[1])
    return fig


def entry_figure(r: Explored, k: int) -> plt.Figure:
    """The figure of the k-th precomputed image."""
    return figure(r.images[k], r.answers(k), MIDDLE, title(int(r.indices[k]), int(r.digits[k]), r.images[k], MIDDLE))


def png(fig: plt.Figure, dpi: int = 80) -> bytes:
    """A figure as a PNG of 256 colours (a third of the size of a full-colour one, alike to the eye); closes it."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    out = io.BytesIO()
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def quarto_format() -> str | None:
    """The format Quarto is rendering this document to ("html", "typst", ...), or None outside a Quarto render."""
    try:
        return json.loads(Path(os.environ["QUARTO_EXECUTE_INFO"]).read_text())["format"]["identifier"]["base-format"]
    except (KeyError, OSError, ValueError, TypeError):
        return None


# --- The HTML: every precomputed figure, one shown at a time ---------------------------------------


def alt_text(r: Explored, k: int) -> str:
    """What the k-th figure shows, in words: the most probable middle value under (c), (d), (e) and the true one."""
    peaks = ", ".join(f"({key}) {int(getattr(r, key)[k].argmax())}" for key in LABELS)
    true = int(r.images[k, 0, MIDDLE[0], MIDDLE[1]])
    return (f"Test image {int(r.indices[k])}, a {int(r.digits[k])}, with the distributions of its middle pixel on a "
            f"log scale (most probable grey level: {peaks}; true value {true}) and sampled completions of each half.")


def html_panel(r: Explored, dpi: int = 80):
    """The HTML's interactive figure: a list of the precomputed images and the figure of the chosen one
    (Markdown holding raw HTML; None when Quarto renders another format, where it is not shown)."""
    from IPython.display import Markdown

    if quarto_format() not in (None, "html"):
        return None
    options, frames = {}, []
    for k in range(len(r.images)):
        index, digit = int(r.indices[k]), int(r.digits[k])
        middle = kind(int(r.images[k, 0, MIDDLE[0], MIDDLE[1]]))
        options.setdefault(digit, []).append(f'<option value="{index}">test image #{index}: middle {middle}</option>')
        data = base64.b64encode(png(entry_figure(r, k), dpi)).decode()
        style = "max-width: 100%" + ("; display: none" if k else "")
        frames.append(f'<img data-index="{index}" alt="{html.escape(alt_text(r, k))}" style="{style}" '
                      f'src="data:image/png;base64,{data}">')
    groups = "".join(f'<optgroup label="digit {d}">{"".join(o)}</optgroup>' for d, o in sorted(options.items()))
    page = f"""<div id="q3-explore">
<p><label for="q3-explore-choice">Conditioning image: </label><select id="q3-explore-choice">{groups}</select></p>
{chr(10).join(frames)}
</div>
<script>
(() => {{
  const panel = document.getElementById("q3-explore"), choice = panel.querySelector("select");
  const show = () => panel.querySelectorAll("img[data-index]").forEach(img => {{
    img.style.display = img.dataset.index === choice.value ? "block" : "none";
  }});
  choice.addEventListener("change", show);
  choice.value = "{int(r.indices[0])}";
  show();
}})();
</script>"""
    return Markdown(f"```{{=html}}\n{page}\n```")


# --- The notebook: a panel that computes the answers live --------------------------------------------


class Panel:
    """A notebook panel: choose a test image (by index, or the next one of a digit) and a pixel, then
    ``update`` computes (c)-(g) for them with the model and shows the figure in place.

    It opens on the precomputed figure of the first image of ``precomputed`` (no model needed, so
    "Run all" computes nothing here); the models and the test images are loaded at the first update,
    the pool of prior proposals of (g) drawn then. ``models`` (forward, reverse) replaces the report's.
    """

    def __init__(self, precomputed: Explored, models: tuple | None = None, b: dict | None = None,
                 seed: int = 0) -> None:
        self.precomputed, self.models = precomputed, models
        self.budget = b or {k: v for k, v in budget()["explore"].items() if k != "images"}
        self.generator = torch.Generator().manual_seed(seed)
        self.found: dict | None = None  # the last answers shown, with ``seconds`` (each quantity's and "total")
        self.image = png(entry_figure(precomputed, 0))  # the PNG shown
        first = title(int(precomputed.indices[0]), int(precomputed.digits[0]), precomputed.images[0], MIDDLE)
        self.message = (f"Precomputed: {first}. Choose an image and a pixel, then press Compute: the model computes "
                        "the answers live (seconds on a CPU).")
        self.controls: dict | None = None  # the ipywidgets controls, once shown
        self._figure = self._status = self._pool = self._test = self._digits = None
        if models is None:  # the reverse model's weights are read at the first update; marked as read now
            trained("reverse").path("model.pt")

    def _load(self) -> None:
        if self.models is None:
            device = default_device()
            self.models = load_identity(identity(MODEL), device), load_identity(identity("reverse"), device)
        if self._test is None:
            ensure_mnist()
            self._test = load_images("test")
        if self._pool is None:
            self._pool = sample(self.models[0], self.budget["top_proposals"], stop=HALF, size=SIZE,
                                generator=self.generator).cpu()

    def update(self, index: int, pixel: tuple[int, int] = MIDDLE) -> dict:
        """(c)-(g) for test image ``index`` at ``pixel`` (row, col), computed now and shown; returns them
        (as ``answers``, ``seconds["total"]`` included)."""
        self._say(f"Computing test image #{index} at pixel {tuple(pixel)} ...")
        start = time.perf_counter()
        self._load()
        x = self._test[index:index + 1].long()
        found = answers(*self.models, x, inf.raster_index(tuple(pixel), SIZE[1]), self.budget, self.generator,
                        self._pool)
        found["seconds"]["total"] = time.perf_counter() - start
        digit = int(self.digits()[index])
        self.found, self.image = found, png(figure(x[0], found, tuple(pixel), title(index, digit, x[0], pixel)))
        self._show_figure()
        self._say(f"Computed live in {found['seconds']['total']:.1f} s: test image #{index} at pixel {tuple(pixel)}.")
        return found

    def digits(self) -> torch.Tensor:
        if self._digits is None:
            self._digits = test_digits()
        return self._digits

    def next_of(self, digit: int, after: int) -> int:
        """The first test image of ``digit`` after index ``after`` (from the start when there is none)."""
        where = torch.nonzero(self.digits() == digit)[:, 0]
        later = where[where > after]
        return int((later if len(later) else where)[0])

    def _say(self, text: str) -> None:
        from IPython.display import Markdown

        self.message = text
        if self._status is not None:
            self._status.update(Markdown(f"*{text}*"))

    def _show_figure(self) -> None:
        from IPython.display import Image

        if self._figure is not None:
            self._figure.update(Image(self.image))

    def _make_controls(self):
        """The ipywidgets controls, or None without ipywidgets."""
        try:
            import ipywidgets as w
        except ImportError:
            return None
        index = w.BoundedIntText(value=int(self.precomputed.indices[0]), min=0, max=9999, description="test image")
        digit = w.Dropdown(options=[("choose", -1)] + [(str(d), d) for d in range(10)], value=-1,
                           description="next of digit")
        row = w.IntSlider(value=MIDDLE[0], min=0, max=SIZE[0] - 1, description="pixel row", continuous_update=False)
        col = w.IntSlider(value=MIDDLE[1], min=0, max=SIZE[1] - 1, description="pixel col", continuous_update=False)
        button = w.Button(description="Compute", button_style="primary")

        def guarded(action):
            def run(*_):
                try:
                    action()
                except Exception as error:  # shown in the panel: a callback's error would go unseen
                    self._say(f"Could not compute: {error}")
            return run

        def next_of_digit(change) -> None:
            if change["new"] >= 0:
                guarded(lambda: setattr(index, "value", self.next_of(change["new"], index.value)))()
                digit.value = -1

        digit.observe(next_of_digit, names="value")
        button.on_click(guarded(lambda: self.update(index.value, (row.value, col.value))))
        self.controls = {"index": index, "digit": digit, "row": row, "col": col, "button": button}
        return w.VBox([w.HBox([index, digit]), w.HBox([row, col]), button])

    def show(self) -> None:
        """Display the panel: its controls (with ipywidgets), the figure and a status line. Shows nothing
        when Quarto renders another format than a notebook (the panel is the notebook's)."""
        from IPython.display import Image, Markdown, display

        if quarto_format() not in (None, "ipynb"):
            return
        box = self._make_controls()
        if box is not None:
            bundle = box._repr_mimebundle_()
            bundle["text/plain"] = "(the panel's controls: run this cell in Jupyter or Colab to use them)"
            display(bundle, raw=True)
        self._figure = display(Image(self.image), display_id=True)
        self._status = display(Markdown(f"*{self.message}*"), display_id=True)


def position(r: Explored, index: int) -> int:
    """Where test image ``index`` is among the precomputed images (the first one when it is not there)."""
    found = torch.nonzero(r.indices == index)[:, 0]
    return int(found[0]) if len(found) else 0
