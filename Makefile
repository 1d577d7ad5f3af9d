# parentbot: `make run` and `make test` are all a new user needs (see README.md).
# uv creates .venv with Python 3.10 from uv.lock; when uv is missing it is installed from PyPI into
# .tools/ (a small virtual environment, so no system Python is touched).

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
# Rasa's usage telemetry off for everything run from here (rasa itself included), unless you set it.
export RASA_TELEMETRY_ENABLED ?= false

.DEFAULT_GOAL := help
.PHONY: help run chat demo browser test test-fast lint format train evaluate evaluate-gate validate-gate cross-validate purge validate bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml devserver/pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

run: .venv/.synced ## start the bot: Telegram when TELEGRAM_BOT_TOKEN is set, else the console chat
	$(RUN) parentbot run

chat: .venv/.synced ## talk to the bot in this terminal
	$(RUN) parentbot chat

demo: .venv/.synced ## try it in a browser: the bot, three parents and two staff groups on a local page
	$(RUN) python -m devserver.demo

# The suite runs on one worker more than there are cores (pytest-xdist: many tests wait on other processes,
# so a spare worker fills the gaps); `make test TEST_WORKERS=0` runs it in one process. --dist loadgroup
# keeps the PostgreSQL tests on one worker (tests/conftest.py).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
XDIST := -n $(TEST_WORKERS) --dist loadgroup
# Test files (the tests' SQLite databases among them) on a RAM disk where there is one: on a virtual disk
# SQLite's sync at each commit is much of a storage test's time, and a test needs no durability across a
# power cut (a killed process loses nothing either way). One folder per checkout: pytest empties it.
# After a passing run the folder is removed (RAM is not for leftovers); after a failure it is kept to look at.
TEST_TMP_DIR := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm/parentbot-tests-$$(pwd | cksum | cut -d' ' -f1))
TEST_TMP := $(if $(TEST_TMP_DIR),--basetemp=$(TEST_TMP_DIR))

test-fast: .venv/.synced ## the inner loop: tests needing no model, no Bot API server, no PostgreSQL, no subprocess (< 60 s)
	$(RUN) pytest -q -n auto $(TEST_TMP) -m "not slow and not e2e and not postgres and not subprocess"
	$(if $(TEST_TMP_DIR),@rm -rf $(TEST_TMP_DIR))

test: .venv/.synced browser ## run the whole test suite (trains the model first when the data changed)
	$(RUN) pytest $(XDIST) $(TEST_TMP)
	$(if $(TEST_TMP_DIR),@rm -rf $(TEST_TMP_DIR))

# The demo page's browser test drives Debian's chromium (never a browser downloaded by playwright).
CHROMIUM := /usr/bin/chromium
APT_CHROMIUM := apt-get install -y -q --no-install-recommends chromium
browser: ## install Debian's chromium for the browser test (as root with apt-get; else the test skips)
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser test (tests/test_demo_browser.py)"; \
		$(APT_CHROMIUM) >/dev/null 2>&1 || { apt-get update -q >/dev/null && $(APT_CHROMIUM) >/dev/null; } \
			|| echo "chromium could not be installed: the browser test will be skipped"; \
	else echo "No $(CHROMIUM) (as root: $(APT_CHROMIUM)): the browser test will be skipped"; fi

lint: .venv/.synced ## ruff (lint and format check), mypy, and the import contracts (lint-imports)
	$(RUN) ruff check bot devserver tests benchmarks
	$(RUN) ruff format --check bot devserver tests benchmarks
	$(RUN) mypy bot devserver/src benchmarks
	$(RUN) lint-imports

format: .venv/.synced ## format the code with ruff
	$(RUN) ruff format bot devserver tests benchmarks
	$(RUN) ruff check --fix bot devserver tests benchmarks

train: .venv/.synced ## train the NLU model if the data changed
	$(RUN) parentbot train

SETS := nlu_dev.tsv nlu_dev_real.tsv nlu_heldout.tsv nlu_heldout_b.tsv nlu_heldout_c.tsv

evaluate: .venv/.synced ## model quality: the dev sets, held-out sets A, B, C, their typo'd copies, then 5-fold CV (~8 min)
	$(RUN) parentbot evaluate $(addprefix tests/data/,$(SETS)) $(addprefix tests/data/typos/,$(SETS))
	$(RUN) parentbot evaluate --cross-validation --folds 5

evaluate-gate: .venv/.synced ## the safeguarding gate per kind and tier on the first-look sets (docs/safeguarding.md)
	$(RUN) parentbot evaluate-gate

validate-gate: .venv/.synced ## choose the gate's thresholds on the danger corpus, one writer held out at a time (~7 min)
	$(RUN) parentbot evaluate-gate --validate

cross-validate: .venv/.synced ## 5-fold cross-validation on the training data (~6 min of CPU)
	$(RUN) parentbot evaluate --cross-validation --folds 5

purge: .venv/.synced ## delete messages and cases past their retention period
	$(RUN) parentbot purge

validate: .venv/.synced ## rasa data validate with the project's paths
	$(RUN) rasa data validate --data nlu --domain domain.yml --config config.yml

bench: .venv/.synced ## run the benchmarks (about 12 minutes), print a table, write benchmarks/results.json
	$(RUN) python -m benchmarks

clean: ## remove the environment, models and caches
	rm -rf .venv .tools models .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
