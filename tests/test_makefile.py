"""`make lab` on a fresh machine: the newest supported Python, one clear message without one, and root.

Checked with ``make -n`` (print the commands, run nothing) and with stub interpreters on a
PATH of their own, so nothing here builds a virtual environment or starts JupyterLab.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _stub_path(tmp_path: Path, versions: dict[str, str]) -> str:
    """A PATH holding only `sh`, `id` and stub `pythonX.Y` that report the given version (an empty version: broken)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, version in versions.items():
        if not version:  # like a pyenv shim for a version that is not installed
            body = "echo 'pyenv: command not found' >&2; exit 127"
        else:  # answers the Makefile's version check, whatever it is asked
            body = f"exit {0 if (3, 11) <= tuple(map(int, version.split('.'))) <= (3, 13) else 1}"
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return str(bin_dir)


def _make(*args: str, path: str | None = None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS", "MAKELEVEL")}
    if path is not None:
        env["PATH"] = path
    # A stamp in a folder of its own, never .venv: a real run of the recipe would build it.
    return subprocess.run([MAKE, "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_newest_supported_python_that_runs_builds_the_venv(tmp_path):
    path = _stub_path(tmp_path, {"python3.13": "", "python3.12": "3.12", "python3.11": "3.11"})
    run = _make("-n", "-B", str(tmp_path / "venv" / ".installed"), path=path, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"{path}/python3.12 -m venv {tmp_path / 'venv'}" in run.stdout  # 3.13 is a shim that does not run


def test_python_can_be_chosen(tmp_path):
    run = _make("-n", "-B", "PYTHON=/opt/python3.13/bin/python3", str(tmp_path / "venv" / ".installed"),
                tmp_path=tmp_path)
    assert "/opt/python3.13/bin/python3 -m venv" in run.stdout


def test_without_a_supported_python_one_clear_message(tmp_path):
    path = _stub_path(tmp_path, {"python3.10": "3.10"})
    run = _make(str(tmp_path / "venv" / ".installed"), path=path, tmp_path=tmp_path)
    assert run.returncode != 0 and not (tmp_path / "venv").exists()
    message = [line for line in run.stderr.splitlines() if not line.startswith("make: ***")]
    assert message == ["make: no supported Python found. The course needs Python 3.11, 3.12 or 3.13: install one "
                       "(python3.13, python3.12 or python3.11 on PATH), or name it: "
                       "make lab PYTHON=/path/to/python3.12"]
    run = _make(str(tmp_path / "venv" / ".installed"), "PYTHON=python3.10", path=path, tmp_path=tmp_path)
    assert run.returncode != 0 and "PYTHON=python3.10 is not a Python 3.11-3.13" in run.stderr


def test_lab_listens_on_localhost_with_a_token_and_says_when_it_allows_root(tmp_path):
    stamp = tmp_path / "venv" / ".installed"
    stamp.parent.mkdir()
    stamp.touch()
    run = _make("-n", "-o", str(stamp), "lab", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    lab = [line for line in run.stdout.splitlines() if "jupyter lab" in line]
    assert len(lab) == 1 and "--ServerApp.ip=127.0.0.1" in lab[0]
    assert "token" not in lab[0] and "0.0.0.0" not in lab[0]  # Jupyter's own random token stays on
    as_root = os.geteuid() == 0
    assert ("--allow-root" in lab[0]) == as_root
    assert ("running as root, so JupyterLab gets --allow-root" in run.stdout) == as_root
    assert "overrides.d/gradclip.json" in run.stdout  # the course's JupyterLab defaults (no news pop-up)
