"""Any conditioning image explored (Q3): the figure of one test image's answers and the HTML's interactive panel.

``html_panel`` shows the answers precomputed by ``q3.explorer.results`` in the HTML (choose an image and its
figure appears: no server and no script from the web); ``explorer_panel.Panel`` computes them live in a notebook
(``q3.explorer.answers``). Both draw ``plots.explored`` (``entry_figure``).
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..core import inference as inf
from ..q3.explorer import Explored
from ..q3.setting import MIDDLE, kind
from . import plots

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
