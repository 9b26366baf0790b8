"""The notebook's panel of the Q3 explorer: (c)-(g) computed live by the model for any test image and pixel.

It opens on a precomputed figure of ``q3.explorer.results`` (so "Run all" needs no model) and computes with
``q3.explorer.answers``; the controls are ipywidgets.
"""

from __future__ import annotations

import time

import torch

from ..core import inference as inf
from ..core.models import device_of
from ..core.sampling import sample
from ..q3.explorer import Explored, answers, test_digits
from ..q3.setting import HALF, MIDDLE, MODEL, SIZE
from ..study.data import ensure_mnist, load_images
from ..study.runs import default_device, identity, load_identity, trained
from . import plots
from .explorer import entry_figure, quarto_format, title


class Panel:
    """A notebook panel: choose a test image (its index, or the next image of a digit) and a pixel;
    ``update(index, pixel)`` computes (c)-(g) for them with the model and shows the figure in place.

    It opens on the precomputed figure of the first image of ``precomputed`` (so "Run all" needs no
    model); the models, the test images and (g)'s pool of prior proposals are loaded at the first
    update. ``models`` (forward, reverse) replaces the report's, ``b`` the budgets of ``results`` (default: the
    precomputed ones, with (d) Rao-Blackwellised and a ``pool`` of prior proposals for (g)).
    """

    def __init__(self, precomputed: Explored, models: tuple | None = None, b: dict | None = None,
                 seed: int = 0, pool: int = 512) -> None:
        self.models, self.generator = models, torch.Generator().manual_seed(seed)
        # live: (d) Rao-Blackwellised, (g) from a pool of ``pool`` prior tops (the figure says its size)
        self.budget = b or {**precomputed.inputs["budget"], "top_proposals": pool, "dropped": 1e-3}
        self.first = int(precomputed.indices[0])
        self.image = plots.png(entry_figure(precomputed, 0))  # the PNG shown
        heading = title(self.first, int(precomputed.digits[0]), precomputed.images[0], MIDDLE)
        self.message = (f"Precomputed: {heading}. Choose an image and a pixel, then press Compute: the model "
                        "computes the answers live (under a minute on a CPU).")
        self.found: dict | None = None  # the answers shown last, with their ``seconds`` ("total" included)
        self.controls: dict | None = None  # the ipywidgets, once shown
        self._handles = self._pool = self._test = self._digits = None
        if models is None:  # the reverse model's weights are read at the first update: marked as read now
            trained("reverse").path("model.pt")

    def digits(self) -> torch.Tensor:
        if self._digits is None:
            self._digits = test_digits()
        return self._digits

    def update(self, index: int, pixel: tuple[int, int] = MIDDLE) -> dict:
        """(c)-(g) for test image ``index`` at ``pixel`` (row, col), computed now and shown (as ``answers``)."""
        pixel, start = tuple(pixel), time.perf_counter()
        self._show(f"Computing test image #{index} at pixel {pixel} ...")
        if self.models is None:
            self.models = tuple(load_identity(identity(name), default_device()) for name in (MODEL, "reverse"))
        if self._test is None:
            ensure_mnist()
            self._test = load_images("test")
            self._pool = sample(self.models[0], self.budget["top_proposals"], stop=HALF, size=SIZE,
                                generator=self.generator).cpu()
        x, threads = self._test[index:index + 1].long(), torch.get_num_threads()
        if device_of(self.models[0]).type == "cpu":  # passes of one image: on a busy CPU, threads mostly wait
            torch.set_num_threads(1)  # on each other (measured: (e) 6 s with one thread, 36-66 s with two)
        try:
            found = answers(*self.models, x, inf.raster_index(pixel, SIZE[1]), self.budget, self.generator,
                            self._pool)
        finally:
            torch.set_num_threads(threads)
        found["seconds"]["total"] = time.perf_counter() - start
        self.found = found
        heading = title(index, int(self.digits()[index]), x[0], pixel)
        self.image = plots.png(plots.explored(x[0], found, pixel, heading, self.budget["completions"]))
        self._show(f"Computed live in {found['seconds']['total']:.1f} s: test image #{index} at pixel {pixel}.")
        return found

    def next_of(self, digit: int, after: int) -> int:
        """The first test image of ``digit`` after index ``after`` (from the start when there is none)."""
        where = torch.nonzero(self.digits() == digit)[:, 0]
        return int(where[where > after][0] if (where > after).any() else where[0])

    def _show(self, message: str) -> None:
        from IPython.display import Image, Markdown

        self.message = message
        if self._handles:
            self._handles[0].update(Image(self.image))
            self._handles[1].update(Markdown(f"*{message}*"))

    def _make_controls(self):
        """The ipywidgets controls in a box (None without ipywidgets); an error is shown in the status line."""
        try:
            import ipywidgets as w
        except ImportError:
            return None
        index = w.BoundedIntText(value=self.first, min=0, max=9999, description="test image")
        digit = w.Dropdown(options=[("choose", -1)] + [(str(d), d) for d in range(10)], description="next of digit")
        row, col = (w.IntSlider(value=v, min=0, max=27, description=f"pixel {name}", continuous_update=False)
                    for v, name in zip(MIDDLE, ("row", "col"), strict=True))
        button = w.Button(description="Compute", button_style="primary")

        def guarded(action) -> None:
            try:
                action()
            except Exception as error:  # a callback's error would go unseen
                self._show(f"Could not compute: {error}")

        def next_of_digit(change) -> None:
            if change["new"] >= 0:
                guarded(lambda: setattr(index, "value", self.next_of(change["new"], index.value)))
                digit.value = -1

        digit.observe(next_of_digit, names="value")
        button.on_click(lambda _: guarded(lambda: self.update(index.value, (row.value, col.value))))
        self.controls = {"index": index, "digit": digit, "row": row, "col": col, "button": button}
        return w.VBox([w.HBox([index, digit]), w.HBox([row, col]), button])

    def show(self) -> None:
        """Display the controls (with ipywidgets), the figure and a status line; nothing while Quarto
        renders another format than a notebook (the panel is the notebook's)."""
        from IPython.display import Image, Markdown, display

        if quarto_format() not in (None, "ipynb"):
            return
        box = self._make_controls()
        if box is not None:  # the text a reader sees where widgets are not shown
            view = {"version_major": 2, "version_minor": 0, "model_id": box.model_id}  # ipywidgets 7 (Colab) and 8
            display({"application/vnd.jupyter.widget-view+json": view,
                     "text/plain": "(the panel's controls: run this cell to use them)"}, raw=True)
        self._handles = (display(Image(self.image), display_id=True),
                         display(Markdown(f"*{self.message}*"), display_id=True))
