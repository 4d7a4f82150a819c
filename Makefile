# The two commands of the README:  make demo  and  make test.
# Both set up what they need on a fresh Debian/Ubuntu machine (as root).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

AST    := asterisk-conf/local-asterisk.sh
DEMO_DIR ?= /tmp/dialer-demo

.PHONY: demo test host venv asterisk unit bench clean

# The Asterisk 22 root (built once, about a minute, cached in /var/lib/dialer) and the
# SIPp media (speech made inside that root).
asterisk: host
	$(AST) build
	tests/sipp/make-media.sh

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
test: host venv asterisk
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

# The demo campaign: the local Asterisk, SIPp customers (mixed behaviour) and 5 SIPp
# agents, ~300 leads dialled for a few minutes in the live view, then the report.
demo: host venv asterisk
	PY=$(PY) DEMO_DIR=$(DEMO_DIR) examples/demo.sh

# Only the tests that need no server.
unit: venv
	$(PY) -m pytest -m "not asterisk and not postgres and not mqtt"; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

bench: venv
	for b in tests/bench/*_bench.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
