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
# this machine only; serving a team needs sign-in first (README, "Security model")
ADDRESS ?= 127.0.0.1

.PHONY: install run test lint format sample-data sample-series curated-series compare benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# The sample's embeddings for every checkpoint are computed (or read from the cache) before the
# server starts, with a progress bar, so the app's first page opens in seconds.
run: $(STAMP)
	$(BIN)/workbench evaluate --data sample_data/pets --checkpoints sample_data/series/baseline \
		--cache $${WORKBENCH_CACHE:-.workbench/cache}
	$(BIN)/streamlit run serve.py --server.headless true --server.address $(ADDRESS) \
		--server.port $(PORT) --browser.gatherUsageStats false

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

# rm -rf, not --overwrite: --overwrite removes only checkpoints listed in the series' written.json
sample-series: $(STAMP)
	rm -rf sample_data/series/baseline
	$(BIN)/workbench train --data sample_data/pets --out sample_data/series/baseline \
		--epochs 60 --save-at 3,12,30,60

# Close the loop on the sample: drop the posts whose photos share one artifact (ground truth),
# retrain with the baseline's recipe, compare. The export keeps only its manifest and reports;
# the manifest's paths are those of sample_data/pets.
curated-series: $(STAMP)
	rm -rf .workbench/curated-export
	$(BIN)/workbench export --data sample_data/pets --rules homogeneous_artifact:source=manifest \
		--out .workbench/curated-export --no-buckets
	mkdir -p sample_data/exports/curated
	cp .workbench/curated-export/manifest.csv .workbench/curated-export/removals.csv \
		.workbench/curated-export/provenance.json sample_data/exports/curated/
	rm -rf sample_data/series/curated
	$(BIN)/workbench train --manifest sample_data/exports/curated/manifest.csv --root sample_data/pets \
		--out sample_data/series/curated --recipe sample_data/series/baseline/recipe.json

compare: $(STAMP)
	$(BIN)/workbench compare sample_data/series/baseline sample_data/series/curated \
		--data sample_data/pets --out .workbench/reports/compare --methods gradcam --queries 8

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
