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
	@echo "make test-deps  headless Chromium (review console test) and njs (edge vectors): apt, once"
	@echo "make lint    template lint only"
	@echo "make build   sam build (into .aws-sam/)"
	@echo "make lock    re-resolve requirements.lock and the layers' shares (LOCK_ARGS=\"--upgrade-package X\")"
	@echo "make up      imagepipe local up --demo (embedded stack until Ctrl-C)"
	@echo "make bench   derivatives benchmark vs sharp (out/bench/); BENCH_QUICK=1 for a smoke run"
	@echo "make bench-frontier  what each encoder could still save at equal quality, and its CPU"
	@echo "make bench-allocation  can choosing each image's quality beat one quality for all?"
	@echo "make bench-signing  CloudFront signing throughput vs raw RSA (one core)"
	@echo "make bench-coldstart  each built function's init (handler import) vs its target (out/bench/coldstart.txt)"

# requirements.lock (scripts/lock) is the one lock of the venv and of every layer: installed
# whole, with hashes, as resolved (--no-deps: the lock is complete, and pip 23's resolver trips
# over a locked X[extra] that another package requires as plain X); then the project itself,
# editable, with the locked setuptools. The SAM CLI has its own lock and venv.
$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.lock
	@test -x $(SAM_VENV)/bin/python || "$$(scripts/find-python)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-sam.lock
	@touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed

# Resolve the *.in files again into requirements.lock, requirements-sam.lock and each layer's
# share (layers/*/requirements.txt); LOCK_ARGS="--upgrade-package NAME" lets NAME move.
lock: $(VENV)/.installed
	$(PY) scripts/lock $(LOCK_ARGS)

demo: $(VENV)/.installed
	$(VENV)/bin/imagepipe demo

up: $(VENV)/.installed
	$(VENV)/bin/imagepipe local up --demo

lint: install
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

test: lint test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Headless Chromium for the review console test and njs (the engine under CloudFront Functions) for
# the edge/normalize.js vectors: Debian's packages, installed once (as root, where apt-get exists);
# elsewhere the tests skip and say why.
test-deps:
	@pkgs=""; \
	if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then pkgs="chromium chromium-driver"; fi; \
	if ! command -v njs >/dev/null; then pkgs="$$pkgs njs"; fi; \
	if [ -n "$$pkgs" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkgs; \
	  else \
	    case "$$pkgs" in *chromium*) echo "chromium/chromedriver missing and no apt-get as root: the review console test will be skipped";; esac; \
	    case "$$pkgs" in *njs*) echo "njs missing and no apt-get as root: the njs test of edge/normalize.js will be skipped";; esac; \
	  fi; \
	fi

build: $(SAM_VENV)/.installed
	PATH="$$(dirname "$$(scripts/find-python)"):$$PATH" $(SAM) build

# Derivatives benchmark (bench/): its Python extras go into the project venv, sharp (pinned
# in bench/package-lock.json) into bench/node_modules. `make test` needs neither.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: $(VENV)/.bench-installed bench/node_modules/.installed
	$(PY) bench/derivatives.py

# Encoder frontier: bytes each format could still save at equal SSIMULACRA2, and the CPU it costs (~8 min).
bench-frontier: $(VENV)/.bench-installed
	$(PY) bench/frontier.py

# Per-image quality allocation policies at equal mean SSIMULACRA2, on exact curves (~3 min).
bench-allocation: $(VENV)/.bench-installed
	$(PY) bench/allocation.py

# CloudFront signing throughput: raw RSA vs botocore vs sign-url's path (one core, ~20 s).
bench-signing: $(VENV)/.installed
	$(PY) bench/signing.py

# Cold starts: each function's init (a fresh interpreter importing its handler from .aws-sam/build,
# built first if missing), medians of 7 runs (~2 min; COLDSTART_ARGS="--runs 11 --only sign_url").
bench-coldstart: $(VENV)/.installed
	@test -d .aws-sam/build/CoreLayer || $(MAKE) build
	$(PY) bench/coldstart.py $(COLDSTART_ARGS)

clean:
	rm -rf out .aws-sam .pytest_cache

.PHONY: help install lock demo up lint test test-deps build clean bench bench-frontier bench-allocation bench-signing bench-coldstart
