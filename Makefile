# The two commands of the README: `make run` and `make test`. Everything else is a helper.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test install lint format lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Everything up, with demo data: web + Celery worker + beat; Ctrl-C stops all.
run: install
	$(PY) -m config.localservices run

## The whole test suite (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set).
test: install
	$(PY) -m config.localservices test

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) -m config.localservices manage makemigrations --check --dry-run

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## Re-pin dependencies after editing pyproject.toml.
lock: install
	$(PY) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: install
	$(PY) -m config.localservices manage check
	$(PY) bench/import_ledger.py

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache .hypothesis
