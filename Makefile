# Two commands on a fresh machine: `make demo` and `make test`. Both create (or reuse) the
# virtual environment in .venv and install everything fcbench needs, pinned.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fcbench-installed

# Offline, no telemetry (docs/test-conditions.md §9): no model hub is reachable from here.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export MLFLOW_DISABLE_TELEMETRY=true
export DO_NOT_TRACK=true
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

.PHONY: install demo lint typecheck test test-fast bench clean-venv

install: $(STAMP)

# A new .venv takes about 7.1 GB (torch 2.14.1 is PyPI's CUDA build): say so before pip fills the disk.
VENV_NEEDS_KB := 8000000

$(STAMP): pyproject.toml requirements/torch.txt
	test -x $(PY) || { free=$$(df -Pk $(dir $(VENV)) | awk 'NR==2 {print $$4}'); \
		if [ "$$free" -lt $(VENV_NEEDS_KB) ]; then \
			echo "make: a new $(VENV) needs about $$(($(VENV_NEEDS_KB) / 1000000)) GB free on its disk; $$((free / 1024)) MB are free" >&2; \
			exit 1; fi; \
		python3 -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: the pinned build; an unpinned one pulls a multi-GB wheel
	$(PY) -m pip install --quiet -r requirements/torch.txt
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fcbench demo

# Lint and import order (ruff), then types (mypy); both configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check codecs components pipelines machines tests benchmarks
	$(MAKE) --no-print-directory typecheck

# mypy reads the packages as `fcbench.<folder>` through a folder of links (pyproject maps the
# folders at install time, which mypy cannot follow). The benchmark scripts are checked too: they
# call the package's API and nothing else would notice when it changes under them.
typecheck: $(STAMP)
	mkdir -p .mypy-src/fcbench
	for d in codecs components machines pipelines; do ln -sfn ../../$$d .mypy-src/fcbench/$$d; done
	cd .mypy-src && ../$(VENV)/bin/mypy --config-file ../pyproject.toml -p fcbench.codecs -p fcbench.components \
		-p fcbench.machines -p fcbench.pipelines
	cd .mypy-src && ../$(VENV)/bin/mypy --config-file ../pyproject.toml ../benchmarks/*.py

# Everything (CI): the lint, then every test.
test: lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Everything but the tests that start servers or the kfp local runner, and the slow ones.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not integration and not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
