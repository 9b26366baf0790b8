# Two commands do everything: `make report` and `make test`. Each sets itself up (venv, packages,
# data) and is safe to run again.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: report test lint data venv train bench clean-runs

report: $(STAMP) data
	$(PY) -m pixelcnn report

test: $(STAMP) data lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check code tests

data: $(STAMP)
	$(PY) -m pixelcnn data

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Recompute every cached result of the report (hours on a CPU, minutes on a GPU).
train: $(STAMP) data
	$(PY) -m pixelcnn train all
