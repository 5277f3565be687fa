# Interleave: `make run` serves the app, `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: run test check bench load fuzz browser recorder clean mutate soak soak-browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	sh scripts/ensure-compiler.sh $(PYTHON)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The compiled recorder (app/hotpath.py) is named after its sources: rebuilt whenever
# they changed since the last build, else the same sources would run interpreted.
# (build_missing() looks at the build whichever recorder this process was asked for.)
recorder: $(STAMP)  ## build the compiled recorder if its sources changed (needs a C compiler)
	@$(PY) -c "import app.hotpath as h, sys; sys.exit(bool(h.build_missing()))" || { \
		sh scripts/ensure-compiler.sh $(PY) && $(PY) -m pip install --quiet --no-deps -e . ; }
	@$(PY) -c "import app.hotpath as h; print(h.describe())"

run: $(STAMP) recorder  ## serve on http://127.0.0.1:$(PORT)
	INTERLEAVE_PORT=$(PORT) $(PY) -m app

browser:  ## a Chromium for the browser tests (Debian's package where we are root)
	@sh scripts/ensure-browser.sh $(PY)

test: $(STAMP) recorder browser  ## the whole suite: unit, API, browser, container
	$(PY) -m pytest

check: $(STAMP)  ## lint, format and types
	$(PY) -m ruff check app tests bench scripts
	$(PY) -m ruff format --check app tests bench scripts
	$(PY) -m mypy

mutate: $(STAMP)  ## mutation testing of the core into docs/TESTING.md (MODULES=app/export.py: just those; COMPARE=main: also score main's tests)
	$(PY) scripts/mutate.py $(if $(MODULES),--modules $(MODULES)) $(if $(COMPARE),--compare $(COMPARE))

soak: $(STAMP) recorder  ## the fast suite N times (default 30) beside a CPU hog per core
	$(PY) scripts/soak.py fast --runs $(or $(N),30)

soak-browser: $(STAMP) recorder browser  ## the browser suite N times (default 10) under the same load
	$(PY) scripts/soak.py browser --runs $(or $(N),10)

bench: $(STAMP) recorder browser  ## overhead, start costs, drawing, a 1M-event run kept and reloaded (see docs/PERFORMANCE.md)
	$(PY) -m bench --write docs/PERFORMANCE.md

load: $(STAMP)  ## a classroom's load, hostile clients (-> docs/PERFORMANCE.md), what runs out first (-> docs/SCALING.md)
	$(PY) -m bench.load --write docs/PERFORMANCE.md
	$(PY) -m bench.scaling --write docs/SCALING.md

fuzz: $(STAMP)  ## a long schema-driven fuzz of the API with a random seed (printed, to replay)
	$(PY) -m bench.fuzz --max-examples 100 --write docs/PERFORMANCE.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .mutate .soak build
	rm -f interleave_*__mypyc*.so app/*.so app/traced/*.so
