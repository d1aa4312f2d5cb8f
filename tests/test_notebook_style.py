"""The course as a learner reads it: every notebook has the same parts, and its committed outputs read well anywhere.

For every lesson notebook (``notebooks/NN_*.ipynb``), checked on the committed file
(nothing is executed, so this runs in a second):

* **parts**: an H1 title ``# NN · ...`` in the first cell, a "What you will learn"
  before the code starts, exactly one ``parameters``-tagged cell made of plain
  assignments (papermill overrides them), a ``## Summary``, then ``## Exercises``,
  and a closing ``**Next:**`` that links to the next notebook (the last notebook
  links back to an earlier one);
* **widgets**: a cell whose output is a widget (an explorer, the dashboard) also keeps
  an image output, the figure GitHub and nbviewer show in its place; no committed
  tqdm progress bar (an empty ``0/640`` bar reads as a stuck run);
* **outputs**: committed as run in order from a fresh kernel (execution counts 1, 2, ...),
  with no error output and no stderr stream (warnings, logs) in any cell;
* **scaffolding**: no ``NBVAL_`` comment in a source: nbval's cell tags
  (``nbval-ignore-output`` ...) keep test markers out of the lesson;
* **links**: every relative link or image in a markdown cell (``[text](path)``,
  ``![alt](path)``, ``href``/``src``) names a file or folder that exists in the
  repository, and so does every Binder ``labpath=`` and GitHub ``blob/``/``tree/``
  path into this repository.

The solutions notebook gets the output, scaffolding and link checks. Run it with
``.venv/bin/pytest -o addopts="" -p no:cacheprovider tests/test_notebook_style.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL_NOTEBOOKS = LESSONS + sorted((ROOT / "solutions").glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# [text](target "title") and ![alt](target): the target; HTML href/src attributes.
MARKDOWN_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
# A path into this repository inside an absolute link: Binder's labpath, GitHub's blob/tree.
REPO_PATH_IN_URL = re.compile(r"(?:[?&](?:labpath|urlpath|filepath)=(?:lab/tree/)?|/(?:blob|tree)/[^/]+/)([^&#?)\s]+)")
PROGRESS_BAR = re.compile(r"\d+%\||\b\d+/\d+ \[")


def _ids(paths):
    return [p.stem for p in paths]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _markdown(nb) -> list[tuple[int, str]]:
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def _headings(nb, level: int) -> list[tuple[int, str]]:
    prefix = "#" * level + " "
    return [(i, line[len(prefix):].strip()) for i, source in _markdown(nb)
            for line in source.splitlines() if line.startswith(prefix)]


def _parameters_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]


# ---------------------------------------------------------------------------- the parts of a lesson


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_title(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell should be the markdown title"
    title = first.source.lstrip().splitlines()[0] if first.source.strip() else ""
    number = path.name[:2]
    assert re.match(rf"# {number} · \S", title), f"{path.name}: the first line should be '# {number} · ...': {title!r}"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_what_you_will_learn_comes_before_the_code(path):
    nb = _read(path)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    intro = " ".join(source for i, source in _markdown(nb) if i < first_code)
    assert re.search(r"what you will learn", intro, re.IGNORECASE), \
        f"{path.name}: no 'What you will learn' in the markdown before the first code cell"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_one_parameters_cell_of_plain_assignments(path):
    nb = _read(path)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters' (papermill needs exactly one)"
    tree = ast.parse(nb.cells[cells[0]].source)
    others = [type(node).__name__ for node in tree.body if not isinstance(node, (ast.Assign, ast.AnnAssign))]
    assert tree.body and not others, f"{path.name}: the parameters cell should hold assignments only, has {others}"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_summary_then_exercises(path):
    h2 = _headings(_read(path), 2)
    summary = [i for i, text in h2 if text.lower() == "summary"]
    exercises = [i for i, text in h2 if text.lower() == "exercises"]
    assert summary, f"{path.name}: no '## Summary' heading"
    assert exercises, f"{path.name}: no '## Exercises' heading"
    assert summary[0] < exercises[0], f"{path.name}: '## Exercises' should come after '## Summary'"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_next_link_closes_the_notebook(path):
    nb = _read(path)
    closing = [(i, source) for i, source in _markdown(nb) if re.search(r"\*\*Next:?\*\*:?|^Next:", source, re.M)]
    assert closing, f"{path.name}: no '**Next:**' paragraph"
    index, source = closing[-1]
    later_code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i > index and c.source.strip()]
    assert not later_code, f"{path.name}: '**Next:**' (cell {index}) should close the notebook, code in {later_code}"
    targets = [Path(urlsplit(t).path).name for t in MARKDOWN_LINK.findall(source[source.find("Next"):])]
    position = LESSONS.index(path)
    if position + 1 < len(LESSONS):
        following = LESSONS[position + 1].name
        assert following in targets, f"{path.name}: '**Next:**' should link to {following}, links {targets}"
    else:
        assert any(t.endswith(".ipynb") for t in targets), f"{path.name}: the last '**Next:**' links no notebook"


# ---------------------------------------------------------------------------- committed outputs


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_widget_cells_keep_an_image_and_no_progress_bar_is_committed(path):
    problems = []
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        datas = [o.get("data", {}) for o in cell.get("outputs", [])]
        widgets = [d for d in datas if WIDGET_MIME in d]
        bars = [d for d in widgets if PROGRESS_BAR.search(str(d.get("text/plain", "")))]
        if bars:
            problems.append(f"cell {i}: a progress bar is committed ({str(bars[0]['text/plain'])[:60]!r}): "
                            "pass progress=False or clear it")
        elif widgets and not any("image/png" in d for d in datas):
            problems.append(f"cell {i}: a widget without an image output (GitHub and nbviewer show nothing there)")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_committed_as_run_from_top_to_bottom(path):
    counts = [c.execution_count for c in _read(path).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts[:8]}...: commit the notebook run in order from a fresh kernel "
        "(make notebooks), with its outputs, so GitHub and nbviewer show them")


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_no_error_or_stderr_output(path):
    problems = []
    for i, cell in enumerate(_read(path).cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"cell {i}: {out.ename}: {out.evalue}"[:200])
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i}: stderr {out.text.strip()[:150]!r}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_no_nbval_comments_in_sources(path):
    marked = [i for i, c in enumerate(_read(path).cells) if c.cell_type == "code" and "NBVAL_" in c.source]
    assert not marked, (f"{path.name}: NBVAL_ comments in cells {marked}; use the cell tags "
                        "(nbval-ignore-output, nbval-skip, nbval-raises-exception) instead")


# ---------------------------------------------------------------------------- links


def _repo_targets(source: str, folder: Path) -> list[tuple[str, Path]]:
    """(link, file) for every repository file a markdown source links to: a relative link, from
    ``folder`` (as Jupyter and GitHub resolve it), or a path into this course inside a URL, from the root."""
    found = []
    for target in MARKDOWN_LINK.findall(source) + HTML_LINK.findall(source):
        parts = urlsplit(target)
        if parts.scheme in ("http", "https") and _is_this_repo(target):
            found += [(target, ROOT / unquote(p)) for p in REPO_PATH_IN_URL.findall(target)]
        elif not parts.scheme and parts.path:  # a bare "#anchor" has no path
            found.append((target, folder / unquote(parts.path)))
    return found


def _is_this_repo(url: str) -> bool:
    """A GitHub or Binder URL of this repository: its name is the repository's folder name or 'gradclip'."""
    names = f"gradclip|{re.escape(ROOT.name)}"
    return bool(re.search(rf"(github\.com|mybinder\.org/v2/gh)/[^/]+/({names})\b", url))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_links_to_repository_files_exist(path):
    broken = []
    for i, source in _markdown(_read(path)):
        for target, file in _repo_targets(source, path.parent):
            file = file.resolve()
            if not file.exists() or ROOT not in file.parents:
                broken.append(f"cell {i}: {target}")
    assert not broken, f"{path.name}: links to files that do not exist: {broken}"


def test_link_checker_finds_broken_links_and_paths_in_urls():
    source = ("[ok](02_value_clipping.ipynb) ![img](../docs/nothing-here.png) [web](https://arxiv.org/abs/1211.5063) "
              "[anchor](#summary) <a href=\"missing.ipynb\">x</a> "
              "[binder](https://mybinder.org/v2/gh/someone/gradclip/HEAD?labpath=notebooks/09_nope.ipynb)")
    folder = ROOT / "notebooks"
    found = [(target, file.resolve()) for target, file in _repo_targets(source, folder)]
    assert [target for target, _ in found] == [
        "02_value_clipping.ipynb", "../docs/nothing-here.png",
        "https://mybinder.org/v2/gh/someone/gradclip/HEAD?labpath=notebooks/09_nope.ipynb", "missing.ipynb"]
    assert [file.exists() for _, file in found] == [True, False, False, False]
    assert found[2][1] == ROOT / "notebooks" / "09_nope.ipynb"
    assert PROGRESS_BAR.search("  0%|          | 0/640 [00:00<?, ?it/s]")
    assert not PROGRESS_BAR.search("FigureExplorer(threshold=5): interactive, run the notebook to move it")
