# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
# `make airflow` runs the local engine and the Airflow UI with the example DAGs until Ctrl-C.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-deployment bench soak airflow clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing batch-eks-provider (first run takes about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m batch_eks_provider.tools.demo

# AIRFLOW_DB=postgres make airflow: the metadata DB in a private PostgreSQL cluster (.airflow/postgres) and the
# LocalExecutor; SQLite is the default
airflow: install
	AIRFLOW_DB=$(or $(AIRFLOW_DB),sqlite) $(PY) -m batch_eks_provider.tools.airflow_local

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# only tests/deployment (also part of `make test`): a real Airflow deployment (PostgreSQL, api-server, scheduler,
# dag-processor, triggerer); skipped, saying why, where no PostgreSQL server can be started
test-deployment: install
	$(PY) -m pytest tests/deployment -v -s $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks.run $(BENCH_ARGS)

# the reliability suite, bigger (SOAK=1) and bounded: at most 15 minutes per scenario
soak: install
	SOAK=1 $(PY) -m pytest tests/reliability -q --timeout 900 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .demo .airflow test-artifacts bench-results
