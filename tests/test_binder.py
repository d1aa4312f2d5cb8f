"""The "Launch on Binder" environment: binder/ as repo2docker reads it, and a rehearsal.

Binder builds the repository with repo2docker. When ``binder/`` exists repo2docker
ignores the top-level ``requirements.txt`` and ``pyproject.toml``: it makes a conda
environment for the Python in ``binder/runtime.txt`` (Jupyter server, JupyterLab,
notebook, ipykernel... at the versions of its own lock file), pip-installs
``binder/requirements.txt`` into that same environment, copies the repository and runs
``binder/postBuild``. The kernel and the server share that environment, and a Binder
session has 1 to 2 GB of memory.

* ``test_repo2docker_*`` run ``repo2docker --no-build --no-run --debug`` on the working
  tree: a dry run prints the Dockerfile it would build and needs no Docker daemon
  (``Repo2Docker.build`` only asks for the container engine when ``dry_run`` is off).
  repo2docker lives in its own cached virtual environment, ``.venv-tools/``, made on
  first use: it is a build tool, not part of the course.
* ``test_*pins*`` keep ``binder/requirements.txt`` and ``requirements.txt`` equal.
* The rehearsal builds a virtual environment the way that Dockerfile does (the server
  packages of repo2docker's base environment at its lock file's versions, then
  ``binder/requirements.txt``, then ``binder/postBuild`` run from a copy of the
  repository), checks it with ``pip check``, and runs every notebook with papermill
  and its defaults, measuring the kernel's peak resident memory. The environment is
  cached under ``.binder-rehearsal/`` keyed by a hash of what goes into it; postBuild
  and the notebooks run every time. A summary is written to
  ``.binder-rehearsal/report.md`` and ``report.json`` and printed (``pytest -rP``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIRST_NOTEBOOK = "notebooks/01_exploding_gradients.ipynb"

REPO2DOCKER = "jupyter-repo2docker==2026.4.0"
TOOLS_VENV = ROOT / ".venv-tools"
REHEARSAL = ROOT / ".binder-rehearsal"

MEMORY_LIMIT_BYTES = 2_000_000_000   # mybinder.org gives 1 to 2 GB; the kernel must fit in 2
MEMORY_TARGET_BYTES = 1_500_000_000  # the course's own target (reported, not enforced here)
NOTEBOOK_TIMEOUT_S = 600

# Top-level pins that Binder does not get. Everything else in requirements.txt is in
# binder/requirements.txt too (the test tools included: a learner can run the tests there).
BINDER_LEAVES_OUT = {
    "playwright": "drives a local Chromium for tests/test_browser.py; Binder's image has no "
                  "browser and its wheel (with a Node driver) only makes the image bigger",
    "hypothesis": "generates cases for the package's property tests (tests/test_clipping_properties.py); "
                  "no notebook uses it",
}

# The packages of repo2docker's base conda environment that the server needs, by their
# conda names; their versions come from repo2docker's lock file for our Python.
BASE_SERVER_PACKAGES = {  # conda name -> PyPI name
    "ipykernel": "ipykernel",
    "ipywidgets": "ipywidgets",
    "jupyter-offlinenotebook": "jupyter-offlinenotebook",
    "jupyter-resource-usage": "jupyter-resource-usage",
    "jupyter_server": "jupyter-server",
    "jupyterhub-base": "jupyterhub",   # jupyterhub-singleuser's Python package
    "jupyterlab": "jupyterlab",
    "notebook": "notebook",
}


# ----------------------------------------------------------------------------- helpers

def _pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)", line)
        assert match, f"{path.name}: not an exact pin: {raw!r}"
        name = re.sub(r"[-_.]+", "-", match[1]).lower()
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = match[2]
    return pins


def _same_package(name: str) -> str:
    """tensorflow-cpu is the CPU-only build of tensorflow: the same package for pinning."""
    return "tensorflow" if name == "tensorflow-cpu" else name


def _runtime_python() -> str:
    text = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(3\.\d+)", text)
    assert match, f"binder/runtime.txt should read python-3.X, not {text!r}"
    return match[1]


def _python(version: str) -> str:
    found = shutil.which(f"python{version}")
    if found:
        return found
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return getattr(sys, "_base_executable", sys.executable)
    pytest.fail(f"python{version} (binder/runtime.txt) is not on PATH")


@contextlib.contextmanager
def _locked(path: Path):
    """One builder at a time (pytest-xdist workers, parallel runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    proc = subprocess.run(cmd, **kwargs)
    if proc.returncode:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def _pip_install(python: Path, *args, cwd=None) -> None:
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "--no-input", *args], cwd=cwd)


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment a Binder session starts with: no test-suite settings, venv first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "JUPYTER", "PYTHON", "MPL", "TF_", "KERAS"))
           and k not in {"VIRTUAL_ENV", "CONDA_PREFIX", "PYDEVD_LOAD_VALUES_ASYNC"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONUNBUFFERED"] = "1"   # as repo2docker's Dockerfile sets
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    return env


def _copy_of_working_tree(dest: Path) -> Path:
    """The files Binder would clone: tracked and untracked-but-not-ignored, modes kept."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                  cwd=ROOT).stdout.split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _tools_venv() -> Path:
    """``.venv-tools/`` with repo2docker (pinned), made on first use."""
    stamp = TOOLS_VENV / ".installed"
    with _locked(ROOT / ".venv-tools.lock"):
        if not (stamp.exists() and stamp.read_text() == REPO2DOCKER):
            shutil.rmtree(TOOLS_VENV, ignore_errors=True)
            _run([_python(_runtime_python()), "-m", "venv", str(TOOLS_VENV)])
            _pip_install(TOOLS_VENV / "bin" / "python", REPO2DOCKER)
            stamp.write_text(REPO2DOCKER)
    return TOOLS_VENV


# ----------------------------------------------------------------------------- static checks

def test_binder_folder_is_what_repo2docker_reads():
    assert (BINDER / "requirements.txt").is_file()
    assert _runtime_python() == "3.11"
    # runtime.txt is ignored when binder/environment.yml exists; a Dockerfile skips everything
    for other in ("environment.yml", "Dockerfile", "Pipfile", "setup.py", "install.R", "apt.txt"):
        assert not (BINDER / other).exists(), f"binder/{other} changes what Binder builds"
    scripts = [BINDER / "postBuild"] + ([BINDER / "start"] if (BINDER / "start").exists() else [])
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/bin/bash\n"), f"{script.name}: needs a bash shebang"
        assert os.access(script, os.X_OK), f"chmod +x binder/{script.name}"
        staged = subprocess.run(["git", "ls-files", "-s", f"binder/{script.name}"], cwd=ROOT,
                                capture_output=True, text=True).stdout.split()
        if staged:  # committed or staged: the executable bit must be in git, not only here
            assert staged[0] == "100755", f"git update-index --chmod=+x binder/{script.name}"
    post = (BINDER / "postBuild").read_text()
    assert "set -euo pipefail" in post
    assert "python -m pip install --no-cache-dir --no-deps ." in post
    if (BINDER / "start").exists():
        assert 'exec "$@"' in (BINDER / "start").read_text(), "binder/start must end in exec \"$@\""


def test_jupyterlab_defaults_turn_off_the_news_prompt_on_binder_and_locally():
    """binder/overrides.json is valid for the installed JupyterLab and postBuild and `make lab` install it."""
    jsonschema = pytest.importorskip("jsonschema")
    overrides = json.loads((BINDER / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    for plugin, values in overrides.items():
        package, name = plugin.rsplit(":", 1)
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        jsonschema.validate(values, schema)  # a typo would be ignored by JupyterLab, silently
    target = "share/jupyter/lab/settings/overrides.d/gradclip.json"  # read by jupyterlab_server
    post = (BINDER / "postBuild").read_text()
    assert "cp binder/overrides.json" in post and "/share/jupyter/lab/settings/overrides.d" in post
    dry_run = subprocess.run(["make", "-n", "-o", ".venv/.installed", "-B", f".venv/{target}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert f"cp binder/overrides.json .venv/{target}" in dry_run


def test_every_subpackage_is_in_the_installed_package():
    """Binder installs gradclip_helpers with `pip install .` (not editable): a folder missing from
    pyproject's package list would be missing there (gradclip_helpers.exercises, for one)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "gradclip_helpers").rglob("__init__.py")}
    assert listed == found, f"pyproject.toml [tool.setuptools] packages: add {found - listed}, drop {listed - found}"


def test_every_package_pinned_in_both_files_has_the_same_version():
    top, binder = _pins(ROOT / "requirements.txt"), _pins(BINDER / "requirements.txt")
    top = {_same_package(k): v for k, v in top.items()}
    binder = {_same_package(k): v for k, v in binder.items()}
    different = {name: (top[name], binder[name]) for name in top.keys() & binder.keys()
                 if top[name] != binder[name]}
    assert not different, f"(requirements.txt, binder/requirements.txt): {different}"
    # the course's own pins all reach Binder (binder/ may add server-side pins such as notebook),
    # except the packages named in BINDER_LEAVES_OUT, each with its reason
    missing = top.keys() - binder.keys() - BINDER_LEAVES_OUT.keys()
    assert not missing, f"add to binder/requirements.txt or to BINDER_LEAVES_OUT: {missing}"
    for name in BINDER_LEAVES_OUT:
        assert name not in binder, f"{name} is in binder/requirements.txt and in BINDER_LEAVES_OUT"
        assert name in (BINDER / "requirements.txt").read_text(), \
            f"say in binder/requirements.txt why {name} is left out"
    assert "tensorflow-cpu" in _pins(BINDER / "requirements.txt"), "Binder has no GPU: use tensorflow-cpu"


def test_readme_links_binder_to_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    # link targets only: "[text](URL)" and reference definitions "[name]: URL"
    links = re.findall(r"(?:\]\(|^\[[^\]]+\]:\s*)(https://mybinder\.org/v2/[^\s)]+)", readme, re.M)
    assert links, "README: no Binder link"
    assert all(f"urlpath=lab/tree/{FIRST_NOTEBOOK}" in link for link in links), links
    assert len({link.split("?")[0] for link in links}) == 1, "keep the repository address in one place"
    if NOTEBOOKS:
        assert (ROOT / FIRST_NOTEBOOK).exists(), f"the Binder link opens {FIRST_NOTEBOOK}"


# ----------------------------------------------------------------------------- repo2docker

@pytest.fixture(scope="module")
def repo2docker_dockerfile(tmp_path_factory) -> str:
    """What ``repo2docker --no-build --no-run --debug`` prints for the working tree."""
    venv = _tools_venv()
    repo = _copy_of_working_tree(tmp_path_factory.mktemp("r2d") / "repo")
    cwd = tmp_path_factory.mktemp("r2d-cwd")  # repo2docker reads a repo2docker_config.py from its cwd
    proc = _run([str(venv / "bin" / "repo2docker"), "--no-build", "--no-run", "--debug", str(repo)],
                cwd=cwd, env=_clean_env(venv), timeout=300)
    return proc.stdout + proc.stderr


def test_repo2docker_uses_binder_folder_and_python_311(repo2docker_dockerfile):
    out = repo2docker_dockerfile
    assert "Building conda environment for python=3.11" in out, out[:2000]
    # repo2docker escapes the source names of the files it COPYs ("." -> "-2e"): undo that
    copied = [re.sub(r"-([0-9a-f]{2})", lambda m: chr(int(m[1], 16)), line)
              for line in out.splitlines() if line.startswith("COPY ")]
    assert any("environment.py-3.11-linux-64.lock" in line and line.endswith(" /tmp/env/environment.lock")
               for line in copied), copied
    assert "FROM " in out and 'CMD ["jupyter"' in out


def test_repo2docker_installs_binder_requirements_and_runs_postbuild(repo2docker_dockerfile):
    lines = [line.strip() for line in repo2docker_dockerfile.splitlines()]
    copy_req = "COPY --chown=0:0 src/binder/requirements.txt ${REPO_DIR}/binder/requirements.txt"
    pip_req = 'RUN ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt"'
    assert copy_req in lines and pip_req in lines
    assert "RUN ./binder/postBuild" in lines
    # order: the requirements before the repository copy and postBuild
    assert lines.index(pip_req) < lines.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < lines.index(
        "RUN ./binder/postBuild")
    # the top-level files are not used when binder/ exists
    assert not [line for line in lines if re.search(r'-r "?requirements\.txt', line)]
    assert not [line for line in lines if "pip install" in line and line.rstrip().endswith(" .")]
    if (BINDER / "start").exists():
        assert any("binder/start" in line for line in lines)


# ----------------------------------------------------------------------------- rehearsal

def _base_server_pins(tools: Path) -> list[str]:
    """repo2docker's base environment (server side) as PyPI pins, from its own lock file."""
    lock_name = f"environment.py-{_runtime_python()}-linux-64.lock"
    locks = list(tools.glob(f"lib/python*/site-packages/repo2docker/buildpacks/conda/{lock_name}"))
    assert len(locks) == 1, f"{lock_name} not found in {REPO2DOCKER}"
    versions = {}
    for line in locks[0].read_text().splitlines():
        if line.startswith("https://"):
            name, version, _build = line.rsplit("/", 1)[1].split("#")[0].rsplit("-", 2)
            versions[name] = version
    missing = BASE_SERVER_PACKAGES.keys() - versions.keys()
    assert not missing, f"{lock_name}: {missing}"
    return [f"{pypi}=={versions[conda]}" for conda, pypi in sorted(BASE_SERVER_PACKAGES.items())]


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """A virtual environment built like the Binder image, cached; postBuild run fresh."""
    tools = _tools_venv()
    python = _python(_runtime_python())
    base = _base_server_pins(tools)
    requirements = (BINDER / "requirements.txt").read_bytes()
    full_version = _run([python, "-c", "import sys; print(sys.version)"]).stdout.strip()
    # keyed by the pins, not the file's bytes: editing a comment does not rebuild
    pins = sorted(_pins(BINDER / "requirements.txt").items())
    key = hashlib.sha256(json.dumps([full_version, base, pins]).encode()).hexdigest()[:16]
    venv = REHEARSAL / f"env-{key}"
    stamp = venv / ".complete"
    info = {"venv": venv.name, "base_server_pins": base, "built_now": False}
    with _locked(REHEARSAL / "env.lock"):
        if not stamp.exists():
            for old in REHEARSAL.glob("env-*"):  # one cached environment at a time (about 2 GB)
                shutil.rmtree(old, ignore_errors=True)
            start = time.monotonic()
            _run([python, "-m", "venv", str(venv)])
            vpython = venv / "bin" / "python"
            _pip_install(vpython, "--upgrade", "pip")
            # 1. repo2docker's base environment (conda in the image; the same versions from PyPI here)
            _pip_install(vpython, *base)
            # 2. RUN pip install --no-cache-dir -r "binder/requirements.txt", from a folder
            #    holding nothing but that file, as in the Dockerfile
            only_req = tmp_path_factory.mktemp("req")
            (only_req / "binder").mkdir()
            (only_req / "binder" / "requirements.txt").write_bytes(requirements)
            _pip_install(vpython, "-r", "binder/requirements.txt", cwd=only_req)
            info["built_now"] = True
            info["build_seconds"] = round(time.monotonic() - start, 1)
            stamp.write_text(json.dumps(info))
        else:
            info.update({k: v for k, v in json.loads(stamp.read_text()).items() if k == "build_seconds"})
    # 3. COPY src/ ${REPO_DIR}/ and RUN ./binder/postBuild (every run: the helpers change)
    repo = _copy_of_working_tree(tmp_path_factory.mktemp("binder") / "repo")
    env = _clean_env(venv)
    start = time.monotonic()
    _run(["./binder/postBuild"], cwd=repo, env=env, timeout=600)
    info["postbuild_seconds"] = round(time.monotonic() - start, 1)
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True,
                           text=True, env=env)
    info["pip_check"] = (check.stdout + check.stderr).strip()
    info["pip_check_ok"] = check.returncode == 0
    versions = _run([str(venv / "bin" / "python"), "-c", textwrap.dedent("""
        import json, sys
        from importlib.metadata import version
        names = ["tensorflow-cpu", "keras", "jupyterlab", "notebook", "jupyter-server", "ipykernel",
                 "gradclip_helpers"]
        print(json.dumps({"python": sys.version.split()[0], **{n: version(n) for n in names}}))
    """)], env=env).stdout
    info["versions"] = json.loads(versions)
    yield {"venv": venv, "repo": repo, "env": env, "info": info, "results": {}}


# Runs one notebook in a process of its own: the kernel is that process's only child,
# so getrusage(RUSAGE_CHILDREN).ru_maxrss is exactly the kernel's peak resident memory.
_RUN_ONE = textwrap.dedent("""
    import json, os, resource, sys, time
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(sys.argv[1])), "tests"))  # the copy's tests/
    import jupyter_client_fix  # noqa: F401  (papermill widget-cell stall, see that module)
    from jupyter_client.kernelspec import KernelSpecManager
    import papermill as pm

    notebook, output, cwd, log = sys.argv[1:5]
    import logging  # papermill's cell-by-cell log with times, to find a slow or stuck cell
    logging.basicConfig(filename=log, filemode="w", level=logging.DEBUG,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = KernelSpecManager().get_kernel_spec("python3")
    start = time.monotonic()
    error = None
    try:
        pm.execute_notebook(notebook, output, kernel_name="python3", cwd=cwd,
                            execution_timeout=300, progress_bar=False, log_output=False)
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, reaped at shutdown
    slowest = []
    try:
        with open(output) as handle:
            cells = json.load(handle)["cells"]
        timed = [(c["metadata"].get("papermill", {}).get("duration") or 0, i) for i, c in enumerate(cells)]
        slowest = [f"cell {i}: {d:.1f} s" for d, i in sorted(timed, reverse=True)[:3] if d]
    except (OSError, ValueError, KeyError):
        pass
    print(json.dumps({"seconds": round(seconds, 1), "kernel_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                      "kernel_peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux: ru_maxrss in KiB
                      "slowest_cells": slowest, "kernel_argv0": spec.argv[0], "error": error}))
""")


def _write_report(binder_env) -> str:
    info, results = binder_env["info"], binder_env["results"]
    rows = ["| notebook | time (s) | kernel CPU (s) | kernel peak RSS (MB) | slowest cells | result |",
            "|---|---:|---:|---:|---|---|"]
    for name, r in sorted(results.items()):
        rows.append(f"| {name} | {r['seconds']:.1f} | {r['kernel_cpu_seconds']:.1f} | "
                    f"{r['kernel_peak_rss_bytes'] / 1e6:.0f} | {', '.join(r['slowest_cells'])} | "
                    f"{'ok' if not r['error'] else 'ERROR'} |")
    build = (f"built in {info['build_seconds']} s this run" if info["built_now"]
             else f"cached (first build took {info.get('build_seconds', '?')} s)")
    text = "\n".join([
        "# Binder rehearsal", "",
        f"Environment `{info['venv']}`: {build}; postBuild {info['postbuild_seconds']} s; "
        f"pip check: {'clean' if info['pip_check_ok'] else info['pip_check']}",
        f"Versions: {json.dumps(info['versions'])}", "",
        f"Limit {MEMORY_LIMIT_BYTES / 1e9:.1f} GB per kernel (course target "
        f"{MEMORY_TARGET_BYTES / 1e9:.1f} GB).", "", *rows, ""])
    (REHEARSAL / "report.md").write_text(text)
    (REHEARSAL / "report.json").write_text(json.dumps({"environment": info, "notebooks": results},
                                                      indent=2, default=str))
    return text


@pytest.mark.slow
def test_binder_environment_is_consistent(binder_env):
    info = binder_env["info"]
    print(_write_report(binder_env))
    # gradclip_helpers declares "tensorflow" and Binder installs the same release as
    # tensorflow-cpu (same modules, no GPU): pip metadata cannot say "either", so that one
    # line is expected; anything else pip check reports is a broken Binder environment.
    expected = re.compile(r"gradclip-helpers \S+ requires tensorflow, which is not installed\.")
    problems = [line for line in info["pip_check"].splitlines()
                if line.strip() and not expected.fullmatch(line.strip())]
    assert info["pip_check_ok"] or not problems, info["pip_check"]
    assert info["versions"]["python"].startswith(_runtime_python() + ".")
    assert info["versions"]["tensorflow-cpu"] == _pins(BINDER / "requirements.txt")["tensorflow-cpu"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_binder_rehearsal_runs_notebook_under_2gb(binder_env, notebook, tmp_path):
    venv, repo, env = binder_env["venv"], binder_env["repo"], binder_env["env"]
    copy = repo / notebook.relative_to(ROOT)
    log = REHEARSAL / "logs" / f"{notebook.stem}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = _run([str(venv / "bin" / "python"), "-c", _RUN_ONE, str(copy), str(tmp_path / notebook.name),
                 str(copy.parent), str(log)], cwd=copy.parent, env=env, timeout=NOTEBOOK_TIMEOUT_S)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    binder_env["results"][notebook.name] = result
    print(_write_report(binder_env))
    # "python" is replaced by the running interpreter (the environment's) when the kernel starts
    assert result["kernel_argv0"] == "python" or Path(result["kernel_argv0"]).is_relative_to(venv), (
        f"kernel not from the Binder environment: {result}")
    assert not result["error"], result["error"]
    # 0 would mean the kernel was never reaped, so never measured; TensorFlow alone is ~500 MB
    assert result["kernel_peak_rss_bytes"] > 100_000_000, f"kernel memory not measured: {result}"
    assert result["kernel_peak_rss_bytes"] < MEMORY_LIMIT_BYTES, (
        f"{notebook.name}: kernel peak {result['kernel_peak_rss_bytes'] / 1e9:.2f} GB > 2 GB")
