# Two commands for a fresh machine with Python 3.11, 3.12 or 3.13 (see README.md):
#   make lab    set up .venv and open the course in JupyterLab (127.0.0.1, token on)
#   make test   set up .venv and run the whole test suite
# .venv is built with the newest supported Python on PATH; choose one with PYTHON=/path/to/python3.X.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
PYTHON_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifndef PYTHON  # the first that runs (a pyenv shim can name a version that is not installed)
PYTHON := $(shell for p in $(SUPPORTED_PYTHONS); do $$p -c '$(PYTHON_OK)' 2>/dev/null && { command -v $$p; break; }; done)
endif
NO_PYTHON := make: $(if $(PYTHON),PYTHON=$(PYTHON) is not a Python 3.11-3.13,no supported Python found). \
The course needs Python 3.11, 3.12 or 3.13: install one (python3.13, python3.12 or python3.11 \
on PATH), or name it: make lab PYTHON=/path/to/python3.12
# As root (most containers) Jupyter refuses to start without --allow-root; it still listens on
# 127.0.0.1 only, with a token.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
ROOT_NOTICE := make lab: running as root, so JupyterLab gets --allow-root (still 127.0.0.1 only, with a token).
# The course's JupyterLab defaults (binder/overrides.json: no "get notified about Jupyter news?"
# pop-up), installed where JupyterLab reads default overrides; binder/postBuild does the same.
LAB_SETTINGS = $(VENV)/share/jupyter/lab/settings/overrides.d/gradclip.json
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab lint test notebooks figure bench clean book

lab: $(STAMP) $(LAB_SETTINGS)
	@$(if $(ALLOW_ROOT),echo "$(ROOT_NOTICE)")
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" $(ALLOW_ROOT) notebooks/01_exploding_gradients.ipynb

$(LAB_SETTINGS): binder/overrides.json | $(STAMP)
	mkdir -p $(@D)
	cp binder/overrides.json $@

# Lint first (ruff, configured in pyproject.toml), then the tests.
lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# Re-execute every notebook in place and normalise it (after changing a notebook or the package).
notebooks: $(STAMP)
	$(BIN)/python tools/refresh_notebooks.py

# Regenerate the README's headline figure, docs/headline.png, from the package (notebook 04's runs).
figure: $(STAMP)
	$(BIN)/python tools/make_readme_figure.py

$(STAMP): requirements.txt pyproject.toml
	@$(if $(PYTHON),$(PYTHON) -c '$(PYTHON_OK)' 2>/dev/null ||) { echo "$(NO_PYTHON)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info $(DOCS_VENV) _build

# Time train() against model.fit, the cost of clipping and of recording norms, and every
# notebook; writes benchmarks/results/<machine>.md and .json (see README, "Benchmarks").
bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The course as a static site in _build/html/ (docs/book.md): Sphinx + myst-nb, pinned in
# docs/requirements.txt and installed into .venv-docs, which sees .venv's packages through a
# .pth file (autodoc imports TensorFlow and gradclip_helpers from there). Warnings are errors.
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed

book: $(STAMP) $(DOCS_STAMP)
	rm -rf _build/html _build/doctrees
	$(DOCS_VENV)/bin/python -m sphinx -W --keep-going -q -b html -c docs -d _build/doctrees . _build/html

$(DOCS_STAMP): docs/requirements.txt | $(STAMP)
	rm -rf $(DOCS_VENV)
	$(BIN)/python -m venv $(DOCS_VENV)  # the same Python as .venv, whose packages it uses
	$(DOCS_VENV)/bin/python -m pip install --quiet --no-deps -r docs/requirements.txt
	$(BIN)/python -c "import site; print('import site; site.addsitedir(%r)' % site.getsitepackages()[0])" \
		> "$$($(DOCS_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/course-venv.pth"
	$(DOCS_VENV)/bin/python -m pip check
	touch $@
