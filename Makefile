# Two commands do all set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
# MNIST's four IDX .gz files; where there are none, training downloads them (needs internet).
MNIST_DIR ?= $(wildcard ../shared/data/mnist)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test screenshots train eval bench clean

# A venv made by another Python would stay one: `make clean` is the way out of it.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(None if v[:2] == (3, 11) else \
		f"lenet-serve needs Python 3.11; $(PYTHON) is {v.major}.{v.minor}: name one, e.g. make PYTHON=python3.11 serve")'
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

# About 20 minutes on 2 cores (50 epochs); `--recipe lecture` (README) about 2.
train: $(STAMP)
	$(BIN)/python -m training $(if $(MNIST_DIR),--data-dir $(MNIST_DIR))

# Photos of MNIST test digits read through the HTTP API, scored per condition (~5 min).
# SET=holdout scores the set never looked at while tuning.
eval: $(STAMP)
	$(BIN)/python -m evaluation --set $${SET:-tuning} $(if $(MNIST_DIR),--data-dir $(MNIST_DIR))

# Rewrites docs/benchmarks.md and bench/results.json (~20-25 min; needs wrk: apt-get install wrk).
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
