# make demo : create .venv when missing, install what is missing, train and
#             evaluate R2-Tuning on the embedded synthetic QVHighlights data
# make test : the same install, then the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.vtg-installed
PROJECT_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard projects/*/pyproject.toml))
PYTEST_ARGS ?=

.PHONY: test demo install clean-install

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) projects/r2_tuning/tools/demo.py --work-dir work_dirs/r2_tuning_demo

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when requirements/setup/project metadata change; pip then
# installs only what is missing.
$(STAMP): $(PY) requirements.txt requirements-dev.txt setup.py $(addsuffix /pyproject.toml,$(PROJECT_DIRS))
	$(PIP) install -q 'setuptools==79.0.1' wheel
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps openmim==0.3.9
	$(PIP) install -q --no-build-isolation deepspeed==0.19.8
	$(PIP) install -q --no-deps --no-use-pep517 -e .
	for p in $(PROJECT_DIRS); do $(PIP) install -q --no-deps --no-build-isolation -e $$p || exit 1; done
	touch $(STAMP)

clean-install:
	rm -f $(STAMP)
