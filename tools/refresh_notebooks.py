"""Re-execute notebooks in place and normalise them for committing.

Usage: python tools/refresh_notebooks.py [notebooks/NN_name.ipynb ...]
(no arguments: every notebook in notebooks/ and solutions/, two at a time).

Normalising keeps what nbval compares and drops what changes from run to run
or machine to machine: widget state, execution timings, papermill metadata,
the Python patch version.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import jupyter_client_fix  # noqa: E402,F401  (nbclient's widget-cell stall, see that module)

NOTEBOOKS = ROOT / "notebooks"


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip volatile metadata in place and return the notebook."""
    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for cell in nb.cells:
        for key in ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("papermill", None)
    return nb


def refresh(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(normalise(nb), path)
    return path.name


def main(argv: list[str]) -> None:
    paths = [Path(a).resolve() for a in argv] or [
        *sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), *sorted((ROOT / "solutions").glob("*.ipynb"))]
    with ProcessPoolExecutor(max_workers=2) as pool:
        for name in pool.map(refresh, paths):
            print(f"refreshed {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
