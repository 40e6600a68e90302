# The two commands: `make run` (set up and serve) and `make test` (set up and run every test).
# Both work on a fresh clone: they create .venv, install the pinned requirements, and (for tests)
# the Debian packages and database server the tests use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
# Where phones and tablets reach `make run`: the base of every printed link and QR code. Set it
# (e.g. PUBLIC_BASE_URL=http://192.168.1.20:5000) when serving on HOST=0.0.0.0.
PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
DEMO_RESPONSES ?= 60000
RUN_ENV = SURVEY_ENV=development PUBLIC_BASE_URL='$(PUBLIC_BASE_URL)'

.PHONY: run test lint format venv dev-venv system-deps postgres translations bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

translations: venv
	$(BIN)/pybabel compile --use-fuzzy -d survey_app/translations -f 2>/dev/null || $(BIN)/pybabel compile -d survey_app/translations

## make run: migrate, load questionnaires, add demo data to an empty database, and serve (with
## waitress, which reads requests whole before the app sees them: survey_app/serving.py).
run: venv translations
	$(RUN_ENV) $(BIN)/flask --app wsgi setup --demo-responses $(DEMO_RESPONSES)
	@echo
	@echo "  The service runs on the embedded SQLite database (instance/survey.db). Open:"
	@echo "    http://$(HOST):$(PORT)/                              front page"
	@echo "    http://$(HOST):$(PORT)/login                         staff sign-in (accounts above)"
	@echo "    http://$(HOST):$(PORT)/healthz                       health check"
	@echo "    http://$(HOST):$(PORT)/api/v1/questionnaires/sipas-counter   a questionnaire (JSON)"
	@echo "    http://$(HOST):$(PORT)/api/v1/openapi.json           the API description"
	@echo
	$(RUN_ENV) $(BIN)/flask --app wsgi serve --host $(HOST) --port $(PORT)

## make test: everything the tests need (Chromium, PostgreSQL running), then the whole suite.
test: dev-venv translations system-deps postgres
	$(BIN)/python -m pytest

# Debian packages the tests use: Chromium (browser tests), zbarimg (decoding printed QR codes),
# LibreOffice Calc (opening the CSV exports as a spreadsheet would). Installed only when missing
# (needs root, as on CI).
SYSTEM_PACKAGES := chromium fonts-dejavu-core zbar-tools libreoffice-calc-nogui
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v zbarimg >/dev/null 2>&1 \
		|| ! command -v soffice >/dev/null 2>&1; then \
		echo "installing Debian packages for the tests: $(SYSTEM_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# Start the local PostgreSQL cluster if it is installed but down (the tests use 127.0.0.1:5432).
postgres:
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n 1) main start || true; \
		for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

## make bench: the benchmark suite (quick size; larger sizes: see benchmarks/README.md, e.g.
## make bench BENCH_ARGS="--sizes 100000,1000000").
bench: dev-venv postgres
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
