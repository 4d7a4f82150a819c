# The two commands of the README:  make demo  and  make test.
# Both set up what they need on a fresh Debian/Ubuntu machine (as root).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test host venv unit bench clean

host:
	.ci/host-setup.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

# The whole suite, integration tests included. pytest's exit code 5 ("no tests
# collected") is not a failure of the suite.
test: host venv
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

# Only the tests that need no server.
unit: venv
	$(PY) -m pytest -m "not asterisk and not postgres and not mqtt"; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

bench: venv
	for b in tests/bench/*_bench.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
