# Two commands on a fresh machine: `make run` (the app on the sample data) and `make test`.
# pip in a venv only: uv/poetry ignore this machine's local torch wheels and download GBs.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch/torchvision pair that works together on CPU (override on other platforms, e.g. aarch64:
# make TORCH="torch==2.9.1 torchvision==0.24.1")
TORCH ?= torch==2.14.1 torchvision==0.29.1
PORT ?= 8501

.PHONY: install run test lint format sample-data sample-series benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.headless true --server.port $(PORT) \
		--browser.gatherUsageStats false

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Rebuild the bundled sample data and checkpoint series (deterministic; see README for timings).
sample-data: $(STAMP)
	rm -rf sample_data/pets
	$(BIN)/workbench generate --out sample_data/pets --seed 0

sample-series: $(STAMP)
	$(BIN)/workbench train --data sample_data/pets --out sample_data/series/baseline \
		--epochs 60 --save-at 3,12,30,60 --overwrite

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
