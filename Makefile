# Every target creates .venv when missing and installs the project into it (again only when
# pyproject.toml changed), so `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench mutation format clean browser cluster screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "GoldenTime needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/goldentime demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser cluster
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium (Playwright cannot download one here) and need a Korean
# font for their screenshots to show Korean (fonts-nanum); install them when this user can, else say so.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: the browser tests need Debian's chromium: sudo apt-get install -y chromium"
	@fc-list :lang=ko 2>/dev/null | grep -q . || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -qq fonts-nanum >/dev/null; } || \
		echo "note: screenshots need a Korean font: sudo apt-get install -y fonts-nanum"
	@fc-list 2>/dev/null | grep -qi "color emoji" || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -qq fonts-noto-color-emoji >/dev/null; } || \
		echo "note: screenshots need an emoji font for the buttons' icons: sudo apt-get install -y fonts-noto-color-emoji"

# The multi-node bus tests (tests/cluster) start a 3-node NATS cluster from Debian's nats-server.
cluster:
	@test -x /usr/sbin/nats-server || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -qq nats-server >/dev/null; } || \
		echo "note: the cluster tests need Debian's nats-server: sudo apt-get install -y nats-server"

# Pictures of every dashboard page for the README, taken by the browser tests.
screenshots: $(STAMP) browser
	GOLDENTIME_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/e2e

bench: $(STAMP)
	$(BIN)/goldentime bench $(BENCH_ARGS)

# Mutation testing of the destination decision (dispatch/router.py, pathways.py, explain.py) against the
# fast router tests: mutmut in mutants/ plus the hand-written mutants of tools/mutation.py. Slow (about
# 15 min); not part of `make test`. Prints the score; fails when a hand-written mutant survives.
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py $(MUTATION_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .hypothesis
