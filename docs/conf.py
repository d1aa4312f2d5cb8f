"""Sphinx configuration of the course book (``make book``; docs/book.md says what it builds).

The source directory is the repository root, so the notebooks, the README and the benchmark
results are rendered from where they live; ``include_patterns`` picks the pages.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))


def _binder_link() -> re.Match:
    """The README's one ``[binder]:`` line, the only place that names the public address."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    link = re.search(r"^\[binder\]:\s*https://mybinder\.org/v2/gh/([^/\s]+/[^/\s]+)/([^?\s]+)\?", readme, re.M)
    if link is None:
        raise ValueError("README.md: no '[binder]: https://mybinder.org/v2/gh/OWNER/REPO/REF?...' line")
    return link


project = "gradclip: gradient clipping in TensorFlow"
author = "the gradclip authors"
copyright = "the gradclip authors; code Apache-2.0, course text and figures CC BY 4.0"

# The README is the landing page; gradclip_book.py appends the book's table of contents to it.
root_doc = "README"
include_patterns = ["README.md", "CONTRIBUTING.md", "LICENSE-CONTENT.md", "docs/**", "notebooks/*.ipynb",
                    "benchmarks/results/*.md"]
gradclip_toc = """

```{toctree}
:hidden:
:caption: The course
:glob:

notebooks/*
```

```{toctree}
:hidden:
:caption: Use the package

docs/helpers
docs/api
```

```{toctree}
:hidden:
:caption: About the course

docs/benchmarks
docs/binder
docs/book
CONTRIBUTING
LICENSE-CONTENT
```
"""
# Sphinx walks every folder it does not exclude (virtual environments included) before it applies
# include_patterns: prune every folder that holds no page.
_PAGE_FOLDERS = {"docs", "notebooks", "benchmarks", "benchmarks/results"}
exclude_patterns = sorted(
    folder.relative_to(ROOT).as_posix()
    for parent in (ROOT, ROOT / "benchmarks") for folder in parent.iterdir()
    if folder.is_dir() and folder.relative_to(ROOT).as_posix() not in _PAGE_FOLDERS
) + ["**/.ipynb_checkpoints", "**/__pycache__", "docs/_ext"]

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx-mathjax-offline",
    "gradclip_book",
]

# Notebooks are shown with their committed outputs (nbval proves them); never executed here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# Notebooks are written for JupyterLab, where a heading may skip a level (notebook 01 has an H3
# under its title); the page renders the same, so that one check does not fail the build.
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

_repo, _ref = _binder_link().groups()
html_theme = "sphinx_book_theme"
html_title = "gradclip"
html_favicon = "favicon.svg"
html_copy_source = True
html_sourcelink_suffix = ""  # _sources/notebooks/01_....ipynb is the notebook itself
# Light by default: the notebooks' figures are drawn on white (the reader can still switch).
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": f"https://github.com/{_repo}",
    "repository_branch": _ref,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_source_button": True,
    "use_download_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
    "home_page_in_toc": True,
}

# for the "Run this notebook" box (gradclip_book.py)
gradclip_repository = _repo
gradclip_ref = _ref
