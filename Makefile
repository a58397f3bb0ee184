# Two entry points; both create/update .venv (steps already done are skipped).
#   make demo   set up, then train and test Faster R-CNN on the shipped tiny VOC data
#   make test   set up with the test extras, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-tests demo test bench constraints
setup:
	VENV=$(VENV) bash tools/misc/setup_env.sh
setup-tests:
	VENV=$(VENV) bash tools/misc/setup_env.sh tests
demo: setup
	VENV=$(VENV) bash tools/misc/run_demo.sh
test: setup-tests
	$(PY) -m pytest -q -p no:randomly tests $(PYTEST_ARGS)
bench:
	VENV=$(VENV) bash tools/misc/setup_env.sh tests bench
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done
# Re-lock constraints.txt (the tested set) from $(VENV) after a deliberate upgrade.
constraints:
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --all --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
