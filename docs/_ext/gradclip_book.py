"""What the course book adds to Sphinx and myst-nb (loaded by docs/conf.py).

- A "Run this notebook" box under the title of every notebook page: Binder, the two local
  commands, the source ``.ipynb`` on the repository and as a download.
- Live widgets are left out of the pages: a static page has no kernel to draw them, and every
  widget cell also leaves a static image (a separate output), which is what the page shows.
- The README is the landing page: the book's table of contents (``gradclip_toc`` in conf.py) is
  appended to it here, so the README itself stays free of Sphinx directives, and
  ``_build/html/index.html`` sends the reader on to ``README.html``.
"""

from __future__ import annotations

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
- **On your machine**, with Python 3.11 and `make`:
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
    """Insert the box as a Markdown cell after a notebook's first (title) cell."""
    notebook = json.loads(source[0])
    path = str(Path(app.env.doc2path(docname, False)))
    box = run_box(app.config.gradclip_repository, app.config.gradclip_ref, path)
    cell = {"cell_type": "markdown", "metadata": {}, "source": box}
    if notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 5:
        cell["id"] = "run-this-notebook"
    notebook["cells"].insert(1, cell)
    source[0] = json.dumps(notebook)


class DropLiveWidgets(SphinxPostTransform):
    """Remove widget-view outputs before myst-nb picks one MIME type per output."""

    default_priority = 3  # myst-nb's SelectMimeType runs at 4

    def run(self, **kwargs) -> None:
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") == "mime_bundle" and any(
                child.get("mime_type") == WIDGET_VIEW for child in bundle.children
            ):
                bundle.parent.remove(bundle)


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
    app.connect("build-finished", write_root_redirect)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
