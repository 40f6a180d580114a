# imagepipe: `make demo` and `make test` work on a fresh machine (they install what they need).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
PYTEST_ARGS ?=

help:
	@echo "make demo    set up, then run the pipeline on the embedded AWS (out/demo/)"
	@echo "make test    lint the template (cfn-lint, sam validate --lint) and run every test"
	@echo "make lint    template lint only"
	@echo "make build   sam build (into .aws-sam/)"
	@echo "make up      imagepipe local up --demo (embedded stack until Ctrl-C)"

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || "$$(scripts/find-python)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/imagepipe demo

up: $(VENV)/.installed
	$(VENV)/bin/imagepipe local up --demo

lint: install
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

build: $(SAM_VENV)/.installed
	PATH="$$(dirname "$$(scripts/find-python)"):$$PATH" $(SAM) build

clean:
	rm -rf out .aws-sam .pytest_cache

.PHONY: help install demo up lint test build clean
