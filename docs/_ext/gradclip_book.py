"""What the course book adds to Sphinx and myst-nb (loaded by docs/conf.py).

- A "Run this notebook" box under the title of every notebook page: Binder, the two local
  commands, the source ``.ipynb`` on the repository and as a download.
- Code cells collapsed in JupyterLab (``"jupyter": {"source_hidden": true}``, the notebooks'
  checks) are collapsed on the page too ("Show code cell source").
- Live widgets are left out of the pages: a static page has no kernel to draw them, and every
  widget cell also leaves a static image, which is what the page shows.
- Docstrings are written for ``help()``; ``docstring_for_sphinx`` adjusts the two things that
  read well there but not on the API page (a constant's type docstring, a missing blank line).
- The README is the landing page: the book's table of contents (``gradclip_toc`` in conf.py) is
  appended to it here, so the README itself stays free of Sphinx directives, and
  ``_build/html/index.html`` sends the reader on to ``README.html``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

RUN_BOX = """\
:::{{admonition}} Run this notebook
:class: tip run-this-notebook

- **On Binder**, with nothing to install: [open `{path}` in JupyterLab]({binder}).
  The first launch of a new commit builds the image and takes several minutes.
- **On your machine**, with Python and `make` ([two commands](../README.md#two-commands)):
  `git clone https://github.com/{repo}.git && cd {name} && make lab`, then open `{path}`.
- **The source**: [`{path}` on GitHub](https://github.com/{repo}/blob/{ref}/{path}),
  or {{download}}`download the notebook <{file}>`.
:::
"""


def run_box(repo: str, ref: str, path: str) -> str:
    """The MyST text of the box for the notebook at ``path`` (relative to the repository)."""
    binder = f"https://mybinder.org/v2/gh/{repo}/{ref}?urlpath=lab/tree/{path}"
    return RUN_BOX.format(repo=repo, name=repo.split("/")[1], ref=ref, path=path,
                          file=Path(path).name, binder=binder)


def add_toc_and_run_box(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the table of contents to the landing page; add the box to each notebook."""
    if docname == app.config.root_doc:
        source[0] += app.config.gradclip_toc
    if docname.startswith("notebooks/"):
        add_run_box(app, docname, source)


def add_run_box(app: Sphinx, docname: str, source: list[str]) -> None:
    """Insert the box as a Markdown cell after a notebook's first (title) cell; keep hidden cells hidden."""
    notebook = json.loads(source[0])
    path = str(Path(app.env.doc2path(docname, False)))
    box = run_box(app.config.gradclip_repository, app.config.gradclip_ref, path)
    cell = {"cell_type": "markdown", "metadata": {}, "source": box}
    if notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 5:
        cell["id"] = "run-this-notebook"
    notebook["cells"].insert(1, cell)
    for code in notebook["cells"]:
        if code["cell_type"] == "code" and code["metadata"].get("jupyter", {}).get("source_hidden"):
            # collapsed in JupyterLab (the notebook's checks): collapsed on the page too
            code["metadata"]["tags"] = [*code["metadata"].get("tags", []), "hide-input"]
    source[0] = json.dumps(notebook)


class DropLiveWidgets(SphinxPostTransform):
    """Leave live widgets out before myst-nb picks one MIME type per output.

    An output that is only a widget (its view and its ``text/plain`` repr, such as
    ``FigureExplorer(children=...)``) is removed; one that also carries an image keeps the image.
    """

    default_priority = 3  # myst-nb's SelectMimeType runs at 4

    def run(self, **kwargs) -> None:
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            views = [child for child in bundle.children if child.get("mime_type") == WIDGET_VIEW]
            if not views:
                continue
            for view in views:
                bundle.remove(view)
            if all(child.get("mime_type") == "text/plain" for child in bundle.children):
                bundle.parent.remove(bundle)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def docstring_for_sphinx(app: Sphinx, what: str, name: str, obj, options, lines: list[str]) -> None:
    """Adjust a docstring in place for reST (autodoc-process-docstring).

    - A constant (a dict, tuple, ...) has no docstring of its own: autodoc would show its type's
      (``dict() -> new empty dictionary``); the API page gives its own sentence instead.
    - An indented block followed at once by less indented text (a list of record names under
      "Per step:", then "Per epoch: ...") reads well in ``help()`` but is a reST error: a blank
      line goes between them. Field lists, doctest lines and blank lines are left alone.
    """
    type_doc = type(obj).__doc__ if what == "data" else None
    if isinstance(type_doc, str) and type_doc.strip() and "\n".join(lines).strip() == inspect.cleandoc(type_doc):
        lines[:] = []
        return
    i = 1
    while i < len(lines):
        previous, line = lines[i - 1], lines[i]
        if (previous.strip() and line.strip() and _indent(line) < _indent(previous)
                and not line.lstrip().startswith((":", ">>>", "..."))):
            lines.insert(i, "")
            i += 1
        i += 1


def write_root_redirect(app: Sphinx, exception: Exception | None) -> None:
    """The site's root page opens the landing page, README.html."""
    if exception is not None or app.builder.format != "html":
        return
    target = app.builder.get_target_uri(app.config.root_doc)
    if target == "index.html":
        return
    (Path(app.outdir) / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        f'<link rel="canonical" href="{target}"><title>gradclip</title></head>'
        f'<body><a href="{target}">The gradclip course</a></body></html>\n',
        encoding="utf-8",
    )


def setup(app: Sphinx) -> dict:
    app.add_config_value("gradclip_repository", "OWNER/REPO", "env")
    app.add_config_value("gradclip_ref", "main", "env")
    app.add_config_value("gradclip_toc", "", "env")
    app.connect("source-read", add_toc_and_run_box)
    app.add_post_transform(DropLiveWidgets)
    app.connect("autodoc-process-docstring", docstring_for_sphinx)
    app.connect("build-finished", write_root_redirect)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
