# The two commands of README.md. Both build .venv from the pinned lock files first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test serve lint lock clean screenshots

$(BIN)/officehours: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

demo: $(BIN)/officehours node_modules/.package-lock.json  ## install, seed the demo office, serve it
	$(BIN)/officehours demo

serve: $(BIN)/officehours node_modules/.package-lock.json
	$(BIN)/officehours serve

lint: $(BIN)/officehours
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# One pytest worker per core (pytest-xdist); the Chromium tests share one worker, and a test
# marked `alone` runs with the other workers held back (tests/conftest.py).
test: lint node_modules/.package-lock.json  ## install, lint, type-check, check imports, run every test
	sh .ci/with-services.sh $(BIN)/pytest -n auto --dist loadgroup

screenshots: $(BIN)/officehours node_modules/.package-lock.json  ## retake docs/images/*.png (Chromium)
	PYTHONPATH=. $(BIN)/python docs/screenshots.py

lock:                               ## re-pin requirements/*.txt from pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements/runtime.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra dev --no-emit-index-url --no-emit-find-links -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
