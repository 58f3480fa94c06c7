# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PG_TEST_URL := postgresql+psycopg://postgres@127.0.0.1:5432/test
ARGS ?=
EXTRAS := .[edge,cloud,rfid,dev]
PYTEST_ARGS ?=

# Some machines set PYTHONDONTWRITEBYTECODE=1 (this project's CI sandbox does): then every
# pytest process, each xdist worker and every hub and node a test starts compiles our ~500
# modules anew, and pytest rewrites each test module's asserts anew (collection took 20-35 s
# instead of 9 s). Bytecode is written, beside the venv rather than in the source tree.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache

.PHONY: demo test test-fast check fmt bench fuzz clean cjk-font chromium

# The packages come from PyPI through uv (itself from PyPI): the same versions pip resolves,
# in 21 s instead of 81 s on a 2-core machine with nothing cached (S34); pip when uv cannot
# be had.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { \
	  echo "python venv support is missing: apt-get install -y python3-venv"; exit 1; }
	$(BIN)/python -m pip install -q uv && $(BIN)/python -m uv pip install -q --python $(BIN)/python -e '$(EXTRAS)' || \
	  { $(BIN)/python -m pip install -q --upgrade pip && $(BIN)/python -m pip install -q -e '$(EXTRAS)'; }
	@rm -f $(VENV)/.installed-*; touch $@

demo: $(STAMP) cjk-font
	$(BIN)/guanjia demo $(ARGS)

# Label previews print Chinese addresses: best effort for a CJK font (Debian's
# fonts-wqy-microhei) where we may install packages; the demo runs without one too.
cjk-font:
	@ls /usr/share/fonts/truetype/wqy >/dev/null 2>&1 || fc-list :lang=zh 2>/dev/null | grep -q . || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null)) ; } || \
	  echo "note: no Chinese font found; label previews show boxes for Chinese text (apt-get install fonts-wqy-microhei)"

# The web pages' tests drive Debian's Chromium (tests/support/browser.py); installed here
# where we may, as the CJK font above. Never `playwright install`: it downloads from outside.
chromium:
	@test -x /usr/bin/chromium || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) ; } || \
	  { echo "chromium is missing and cannot be installed here: apt-get install chromium"; exit 1; }

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict protocol edge cloud simulators

# Tests run on SQLite always, and on PostgreSQL too when the local server answers. The unit
# and integration tests run in two processes (each with its own broker, schemas and files);
# then the browser tests in two (each its own hub and Chromium, nothing else beside them);
# then the end-to-end runs (kill -9, separate daemons) in two, beside each other only: one
# process took 7 of CI's 24 minutes (stop 29), most of it waiting on the daemons it
# starts; last, alone, the tests whose bound is timed (marked serial).
test: check cjk-font chromium
	@if [ -z "$$GUANJIA_TEST_DATABASE_URL" ] && $(BIN)/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test', connect_timeout=3).close()" 2>/dev/null; then \
	  export GUANJIA_TEST_DATABASE_URL=$(PG_TEST_URL); echo "PostgreSQL tests on: $(PG_TEST_URL)"; \
	else echo "PostgreSQL tests: $${GUANJIA_TEST_DATABASE_URL:-off (no server on 127.0.0.1:5432)}"; fi; \
	$(BIN)/pytest -n 2 --dist worksteal --durations=25 -m "not e2e and not browser and not serial" $(PYTEST_ARGS) && \
	$(BIN)/pytest -n 2 --dist worksteal --durations=15 -m "browser and not e2e and not serial" $(PYTEST_ARGS) && \
	$(BIN)/pytest -n 2 --dist worksteal --durations=15 -m "e2e and not serial" $(PYTEST_ARGS) && \
	$(BIN)/pytest --durations=5 -m "serial" $(PYTEST_ARGS)

# The inner loop: no end-to-end runs (separate processes, kill -9, the demo) and no
# browser, SQLite only. `make test` stays the whole suite, and is what CI runs.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	GUANJIA_TEST_DATABASE_URL= $(BIN)/pytest -q -m "not e2e and not browser" --hypothesis-profile=fast -n auto $(PYTEST_ARGS)

# Issue 19: every input kind (tests/fuzz/kinds.py) under atheris, 100,000 cases each by
# default (ARGS="--runs N --kind NAME"); make test runs a short form through Hypothesis.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.atheris_main $(ARGS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/guanjia bench codec

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
