# Two entry points; both create/update .venv (steps already done are skipped).
#   make demo   set up, then train and test Faster R-CNN on the shipped tiny VOC data
#   make test   set up with the test extras, then run the test suite
#   make test-fast / test-random / test-xdist   the suite without the slow
#               tests / in random orders (several seeds) / on 2 workers
# make test runs on TEST_WORKERS pytest-xdist workers (2: most of the suite's
# time is single-threaded imports and tool processes; the shared trained
# runs are built once for all workers); TEST_WORKERS=0 runs in one process.
#   make mutation   mutmut on the numeric core (minutes; not in CI)
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= 2

.PHONY: setup setup-tests demo test test-fast test-random test-xdist \
	mutation bench constraints
setup:
	VENV=$(VENV) bash tools/misc/setup_env.sh
setup-tests:
	VENV=$(VENV) bash tools/misc/setup_env.sh tests
demo: setup
	VENV=$(VENV) bash tools/misc/run_demo.sh
test: setup-tests
	$(PY) -m pytest -q -p no:randomly -n $(TEST_WORKERS) tests $(PYTEST_ARGS)
# test-fast: one process (~45 s on 2 idle cores; every run freezes the imported
# heap for the cyclic GC, tests/helpers/gc_freeze.py via tests/conftest.py).
# PYTEST_ARGS=-n2 gained ~7 s idle for +50% CPU (both workers collect and
# import the stack): slower on a busy machine.
test-fast: setup-tests
	$(PY) -m pytest -q -p no:randomly -m "not slow" tests $(PYTEST_ARGS)
RANDOM_SEEDS ?= 1 2 3
test-random: setup-tests
	for seed in $(RANDOM_SEEDS); do \
	  $(PY) -m pytest -q -p randomly -p no:cacheprovider \
	    --randomly-seed=$$seed tests $(PYTEST_ARGS) || exit 1; \
	done
test-xdist: setup-tests
	$(PY) -m pytest -q -p no:randomly -n 2 tests $(PYTEST_ARGS)
mutation: setup-tests
	VENV=$(VENV) bash tools/misc/mutation.sh
bench:
	VENV=$(VENV) bash tools/misc/setup_env.sh tests bench
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done
# Re-lock constraints.txt (the tested set) from $(VENV) after a deliberate upgrade.
constraints:
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --all --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
