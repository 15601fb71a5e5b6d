# Two commands do all set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test screenshots train eval bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[tensorflow,training,dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/python -m service

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# Rewrites docs/page-desktop.png and docs/page-phone.png from the page's browser tests.
screenshots: $(STAMP)
	WRITE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/service/web/test_page.py

train: $(STAMP)
	$(BIN)/python -m training --data-dir $${MNIST_DIR:-../shared/data/mnist}

# Photos of MNIST test digits read through the HTTP API, scored per condition (~5 min).
# SET=holdout scores the set never looked at while tuning.
eval: $(STAMP)
	$(BIN)/python -m evaluation --set $${SET:-tuning} --data-dir $${MNIST_DIR:-../shared/data/mnist}

# Rewrites docs/benchmarks.md and bench/results.json (~20-25 min; needs wrk: apt-get install wrk).
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
