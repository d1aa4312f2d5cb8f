"""Every notebook, as a course page and as a program.

nbval (configured in pyproject.toml) runs each notebook with its default
parameters and compares the outputs with the committed ones. Here papermill
runs each notebook with the other parameter sets listed in
``tests/papermill_params/<notebook>.json`` (so the defaults are not executed
twice), and static checks keep the committed files clean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMS = ROOT / "tests" / "papermill_params"


def _ids(paths):
    return [p.stem for p in paths]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, [p.name for p in NOTEBOOKS]


def _param_sets():
    for nb in NOTEBOOKS:
        spec = PARAMS / f"{nb.stem}.json"
        sets = json.loads(spec.read_text()) if spec.exists() else [None]
        for i, params in enumerate(sets):
            yield pytest.param(nb, params, id=f"{nb.stem}-{i}")


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "params"), list(_param_sets()))
def test_notebook_runs_with_other_parameters(notebook, params, tmp_path):
    assert params, f"add a list of other parameter sets in tests/papermill_params/{notebook.stem}.json"
    out = tmp_path / notebook.name
    pm.execute_notebook(
        str(notebook), str(out), parameters=params, kernel_name="python3",
        cwd=str(notebook.parent), execution_timeout=300, progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_a_clean_course_page(notebook):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "first cell: a title"
    assert "what you will learn" in cells[0].source.lower()
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    assert any(h.startswith("## Summary") for h in headings)
    assert any(h.startswith("## Exercises") for h in headings)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, "run tools/refresh_notebooks.py"
    text = json.dumps(nb)
    assert not re.search(r"/(home|root|tmp|work)/[A-Za-z0-9_.-]+", text), "absolute path in the notebook"
    for cell in cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, "commit notebooks executed (tools/refresh_notebooks.py)"
        for output in cell.outputs:
            assert output.output_type != "error"
            assert output.get("name") != "stderr" or "NBVAL_IGNORE_OUTPUT" in cell.source, (
                f"stderr output committed: {output.get('text', '')[:200]}")
