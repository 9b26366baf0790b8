# Two commands do everything: `make report` and `make test`. Each sets itself up (venv, packages,
# data) and is safe to run again. `make test-slow` runs the long checks that `make test` leaves out.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: report test test-slow test-colab lint data venv train bench clean-runs

report: $(STAMP) data
	$(PY) -m pixelcnn report

test: $(STAMP) data lint
	$(PY) -m pytest -m "not slow and not colab"

test-slow: $(STAMP) data
	$(PY) -m pytest -m slow

# The notebook to submit, run alone in a venv with the versions a fresh Colab runtime ships
# (colab-requirements.txt; the venv is built once, about 3 minutes and 7 GB).
COLAB_VENV := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed

$(COLAB_STAMP): colab-requirements.txt
	@test -x $(COLAB_VENV)/bin/python || $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --progress-bar on -r colab-requirements.txt
	@touch $(COLAB_STAMP)

test-colab: $(STAMP) data $(COLAB_STAMP)
	NOTEBOOK_PYTHON=$(abspath $(COLAB_VENV))/bin/python $(PY) -m pytest -m colab

lint: $(STAMP)
	$(VENV)/bin/ruff check code tests

data: $(STAMP)
	$(PY) -m pixelcnn data

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing requirements.txt into $(VENV): about 5.8 GB, a few minutes the first time"
	$(PY) -m pip install --progress-bar on -r requirements.txt
	@touch $(STAMP)

# Recompute every cached result of the report (hours on a CPU, minutes on a GPU).
train: $(STAMP) data
	$(PY) -m pixelcnn train all
