"""Any conditioning image explored (Q3): (c)-(g) for a test image and a pixel of the reader's choice.

``results``: the answers precomputed for the test images of ``budget()["explore"]`` (one cache
entry), shown by ``html_panel`` in the HTML (choose an image and its figure appears: no server and no
script from the web). ``explore_panel.Panel``: the same answers computed live by the model in a notebook,
for any test image and pixel (ipywidgets). Both draw ``plots.explored``.
The methods are the report's answers: (c)
and (e) exact, (d) importance sampling with reverse-model proposals, (f) exact ancestral sampling,
(g) sampling-importance-resampling with prior proposals from one pool.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..core import estimators as est
from ..core import inference as inf
from ..core.sampling import sample
from ..q3 import HALF, KINDS, MIDDLE, MODEL, SIZE, kind
from ..study import cache
from ..study.data import load_images
from ..study.runs import budget, default_device, identity, load_identity
from ..study.settings import data_dir
from . import plots

CHUNK = 16  # images per batch of the precomputation (on a CPU, larger batches are slower per image)


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

    inputs: dict  # ``results.inputs()``: the models, the pixel, the test images, the budget (completions: n)
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

    @property
    def per_kind(self) -> int:
        """Test images per digit and kind of middle pixel (``KINDS``)."""
        return len(self.indices) // (10 * len(KINDS))

    @property
    def minutes(self) -> float:
        """What computing every answer took."""
        return sum(self.seconds.values()) / 60

    def answers(self, k: int) -> dict[str, torch.Tensor]:
        """The answers for the k-th image, as ``answers`` gives them for one image."""
        n = self.inputs["budget"]["completions"]
        return {"c": self.c[k:k + 1], "d": self.d[k:k + 1], "e": self.e[k:k + 1], "d_ess": self.d_ess[k:k + 1],
                "f": self.f[k * n:(k + 1) * n], "g": self.g[k * n:(k + 1) * n], "g_ess": self.g_ess[k:k + 1]}


def _results_inputs(seed: int = 0) -> dict:
    """Everything ``results`` depends on."""
    b = budget()["explore"]
    return {"model": identity(MODEL), "reverse": identity("reverse"), "pixel": list(MIDDLE),
            "images": list(b["images"]), "budget": {k: v for k, v in b.items() if k != "images"}, "seed": seed}


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
    proposals = [est.reverse_proposals(model, reverse, x[k:k + 1], index + 1, b["reverse_proposals"], generator)
                 for k in range(len(x))]
    out["d"] = torch.stack([est.weighted_pixel_distribution(r.samples, r.weights, index, model.levels)
                            for r in proposals])
    out["d_ess"] = torch.stack([r.ess.cpu() for r in proposals])
    lap("d")
    out["e"] = inf.full_conditional(model, x, index)
    lap("e")
    out["f"] = sample(model, images=x.repeat_interleave(n, 0), start=HALF, generator=generator).cpu()
    lap("f")
    tops = [est.complete_top_half_sir(model, x[k:k + 1], pool, n, generator) for k in range(len(x))]
    out["g"], out["g_ess"] = torch.cat([t.samples for t in tops]).cpu(), torch.stack([t.ess.cpu() for t in tops])
    lap("g")
    return {**out, "seconds": seconds}


@cache.declare("q3-explore", Explored, _results_inputs)
def results(inputs: dict) -> dict:
    """(c)-(g) for the test images of ``budget()["explore"]`` (minutes on a CPU to compute)."""
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


def entry_figure(r: Explored, k: int) -> plt.Figure:
    """The figure of the k-th precomputed image."""
    heading = title(int(r.indices[k]), int(r.digits[k]), r.images[k], MIDDLE)
    return plots.explored(r.images[k], r.answers(k), MIDDLE, heading, r.inputs["budget"]["completions"])


def quarto_format() -> str | None:
    """The format Quarto's Jupyter engine executes this kernel for ("html", "typst", ...), else None. (Its engine
    sets QUARTO_FIG_FORMAT; QUARTO_EXECUTE_INFO alone is inherited by a post-render step's kernels too.)"""
    if "QUARTO_FIG_FORMAT" not in os.environ:
        return None
    try:
        return json.loads(Path(os.environ["QUARTO_EXECUTE_INFO"]).read_text())["format"]["identifier"]["base-format"]
    except (KeyError, OSError, ValueError, TypeError):
        return None


# --- The HTML: every precomputed figure, one shown at a time ---------------------------------------


def alt_text(r: Explored, k: int) -> str:
    """What the k-th figure shows, in words: the most probable middle value under (c), (d), (e) and the true one."""
    peaks = ", ".join(f"({key}) {int(getattr(r, key)[k].argmax())}" for key in "cde")
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
        data = base64.b64encode(plots.png(entry_figure(r, k), dpi)).decode()
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
