# dqmask: two commands on a fresh machine.
#   make demo   set up .venv and run every command on generated sample data
#   make test   set up .venv and run ruff, the import-layering contracts, mypy, the test suite,
#               the docstring examples (doctests) and the docs build (sphinx -W)
#   make docs   build the HTML docs into docs/_build/html (warnings are errors)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv browser docs doctest

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dqmask.demo demo-output

# headless Chromium for the dqmask edit browser tests: installed when running as root on
# Debian (CI); elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "chromium/chromedriver absent: the browser tests of dqmask edit will skip"; fi

# make test is the same every time: hypothesis's "ci" profile (derandomized; src/dqmask/conftest.py).
# A plain `pytest` still explores new random examples.
test: $(STAMP) browser
	$(BIN)/ruff check src benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest --hypothesis-profile=ci
	$(MAKE) doctest docs

# The examples in the docstrings of the pure modules (cheap: arrays only, no files). A new
# job's core.py is picked up by the glob.
DOCTEST_MODULES = src/dqmask/conventions.py src/dqmask/flags.py src/dqmask/errors.py \
	$(wildcard src/dqmask/*/core.py) src/dqmask/toolbox/combine.py \
	src/dqmask/toolbox/morphology.py src/dqmask/toolbox/preview_core.py src/dqmask/api.py \
	$(wildcard src/dqmask/dolphot/*_core.py) src/dqmask/dolphot/pixel_area.py
doctest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules $(DOCTEST_MODULES)

# -E: a fresh environment every time, so a warning in a page that did not change still
# fails the build; no intersphinx, no network.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -E -q -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/ruff check src benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache build *.egg-info src/*.egg-info docs/_build docs/api
