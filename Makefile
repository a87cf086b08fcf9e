# Set-up and everyday commands.  Only python3 (>= 3.11) is needed on the machine:
# the first target that runs creates .venv and installs the project into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit slow fuzz fuzz-devices soak bench bench-readme clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("usbemu needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/usbemu demo

test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests examples bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# Three workers on this 2-core machine: the suite is CPU-bound on the machines' event
# loops, but the tests that wait on the real clock (sockets, ptys, other processes) leave a
# core idle that a third worker fills.
unit: $(BIN)/.installed
	$(BIN)/pytest -n 3

# Tests too long for make test (10 MB each way through a real pty and the tty layer).
slow: $(BIN)/.installed
	$(BIN)/pytest -m slow

# Long fuzz runs, new random input each time (make test runs a fixed, short set).
fuzz: $(BIN)/.installed
	USBEMU_HYPOTHESIS=fuzz USBEMU_FUZZ_EXAMPLES=$${USBEMU_FUZZ_EXAMPLES:-3000} \
		$(BIN)/pytest tests/test_fuzz.py tests/testing/test_fuzz_devices.py

# A campaign of hostile devices (docs/fuzzing.md): CASES cases from SEED on one core,
# failures minimised into fuzz-repros/.
fuzz-devices: $(BIN)/.installed
	$(BIN)/python -m usbemu.testing.fuzz --cases $${CASES:-100000} --seed $${SEED:-0} \
		--out fuzz-repros

# Plug / unplug soak (docs/soak.md): CYCLES cycles with I/O in flight from SEED, on
# one core; prints the report and fails when it found a problem.
soak: $(BIN)/.installed
	$(BIN)/python -m usbemu.testing.soak --cycles $${CYCLES:-10000} --seed $${SEED:-1}

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

# make bench, and its table written into README.md's performance section.
bench-readme: $(BIN)/.installed
	$(BIN)/python bench/run.py --readme

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
