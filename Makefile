# Two commands for a fresh machine with Python 3.11 (see README.md):
#   make lab    set up .venv and open the course in JupyterLab (127.0.0.1, token on)
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test notebooks figure bench clean

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" notebooks/01_exploding_gradients.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest

# Re-execute every notebook in place and normalise it (after changing a notebook or the package).
notebooks: $(STAMP)
	$(BIN)/python tools/refresh_notebooks.py

# Regenerate the README's headline figure, docs/headline.png, from the package (notebook 04's runs).
figure: $(STAMP)
	$(BIN)/python tools/make_readme_figure.py

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info

# Time train() against model.fit, the cost of clipping and of recording norms, and every
# notebook; writes benchmarks/results/<machine>.md and .json (see README, "Benchmarks").
bench: $(STAMP)
	$(BIN)/python -m benchmarks
