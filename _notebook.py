"""Post-render step of `quarto render`: writes the notebook to submit, _site/report.ipynb."""

import sys

try:
    from pixelcnn.report.build import write_notebook
except ImportError as error:
    sys.exit(f"cannot build the notebook: {error}. Run `make venv` and render with "
             f"QUARTO_PYTHON=.venv/bin/python (or activate .venv first).")

print(f"wrote {write_notebook()}")
