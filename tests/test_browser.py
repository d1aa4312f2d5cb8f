"""The learner's eye: every notebook opened, run and its widgets moved in JupyterLab, in headless Chromium.

nbval and papermill run the notebooks without a frontend, so a widget that renders
nothing, a figure that never updates when a slider moves, or an error that only
happens in the browser go unseen there. This module starts JupyterLab from the
course environment (127.0.0.1, a free port, a random token), drives Debian's
Chromium through Playwright for Python and, for each notebook:

* opens it through the JupyterLab UI, clears the committed outputs and runs it
  with Run > Run All Cells;
* waits until every code cell has run and the kernel is idle;
* asserts there is no error output (tracebacks, error outputs, an explorer's error
  message, a widget that cannot be displayed, a JavaScript error) and that every
  widget the committed notebook shows is drawn, and at least as many figures as the
  committed notebook has outside its widget cells plus one per explorer (the static
  images a widget cell keeps for GitHub are only made without a browser);
* for every ``FigureExplorer`` the run displays, moves its first slider with the
  keyboard and asserts the figure in the widget changes;
* for every ``TrainingDashboard`` the run displays (notebook 04), presses Start and
  asserts its figure changes while it trains, types a new threshold (accepted: no
  error, the box keeps it) and then -1 (refused: the widget shows the error and the
  box returns to the setting in force), waits for the run to finish (Start disabled)
  and asks the kernel, silently, that the run finished all its steps at the new
  threshold (the screenshot then shows the finished run and the -1 refusal message);
* saves a screenshot of the whole notebook in tests/screenshots/ (git-ignored;
  ``NAME-failed.png`` when the test fails) for people to look at.

JupyterLab's autosave is switched off for this server, so the notebooks on disk are
never touched. Without Chromium (``GRADCLIP_CHROMIUM`` names another binary) the
tests skip and say how to install it; with CI=true they run and a missing browser
fails them. Everything stays in this one module so that ``--dist loadscope`` runs
it on one worker with one server. ``pytest -n 0 -rP tests/test_browser.py`` prints
the time each notebook took.
"""

from __future__ import annotations

import ast
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest
from chromium import launched_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "tests" / "screenshots"

BUDGET_S = 300  # the whole module (issue 5); going over it warns, it does not fail
SERVER_START_S = 120
RUN_ALL_S = 200  # one notebook, all cells (about 20 s each when the machine is quiet)
WIDGET_REDRAW_S = 60  # notebook 03 trains again on every slider move (about 3 s here)
DASHBOARD_S = 60  # notebook 04's dashboard: 320 steps, pace 0.1 s per 16 (about 4 s here)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show
NOTEBOOK = f"{PANEL} .jp-Notebook"

# JupyterLab settings for the test server only (its own user-settings folder):
# no autosave, so the notebooks on disk stay as committed; every cell kept in the
# DOM (no virtual scrolling) so that the DOM assertions and the screenshot see the
# whole notebook. The news prompt is turned off by the course's own default,
# binder/overrides.json (installed by `make lab` and binder/postBuild), given to this
# server as its application settings: the tests check that no prompt shows.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
COURSE_LAB_DEFAULTS = ROOT / "binder" / "overrides.json"
NEWS_PROMPT = re.compile(r"Jupyter news|get notified", re.IGNORECASE)


def _ids(paths):
    return [p.stem for p in paths]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, token: str | None = None) -> http.client.HTTPResponse:
    """One GET that does not follow redirects; the response body is read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"token {token}"} if token else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def _request(port: int, method: str, path: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers={"Authorization": f"token {token}"})
    status = conn.getresponse().status
    conn.close()
    return status


class LabServer:
    def __init__(self, port: int, token: str, process: subprocess.Popen, log: Path, runtime: Path):
        self.port, self.token, self.process, self.log, self.runtime = port, token, process, log, runtime
        self.url = f"http://127.0.0.1:{port}"
        self.background = ThreadPoolExecutor(max_workers=1)  # kernel shutdowns, while the next notebook opens

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def shutdown_sessions(self) -> None:
        """Shut down every kernel session (one notebook at a time keeps memory low)."""
        sessions = json.loads(_get(self.port, "/api/sessions", self.token).body)
        for session in sessions:
            _request(self.port, "DELETE", f"/api/sessions/{session['id']}", self.token)

    def shutdown_sessions_soon(self) -> None:
        self.background.submit(self.shutdown_sessions)


def _stop(server: LabServer) -> None:
    """Stop the server and its kernels, cleanly if it can, killing what is left if not."""
    server.background.shutdown(wait=True)
    try:
        proc = psutil.Process(server.process.pid)
        family = [proc, *proc.children(recursive=True)]  # kernels run in their own sessions
    except psutil.NoSuchProcess:
        family = []
    try:
        _request(server.port, "POST", "/api/shutdown", server.token)  # clean: shuts kernels down
    except OSError:
        pass
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs(family, timeout=10)
    # Any process of this server (its command line names the token or the runtime folder of
    # the kernels' connection files) still alive: terminate, then kill, its process group.
    for p in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if p.pid != os.getpid() and p.pid not in {a.pid for a in alive} and (
                server.token in cmdline or str(server.runtime) in cmdline):
            alive.append(p)
    for p in alive:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                group = os.getpgid(p.pid)
                if group != os.getpgrp():  # never pytest's own group
                    os.killpg(group, sig)
                else:
                    p.send_signal(sig)
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                pass
            _, still = psutil.wait_procs([p], timeout=5)
            if not still:
                break
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=10)
    _, left = psutil.wait_procs(family + alive, timeout=5)
    assert not left, f"processes left after stopping JupyterLab: {[p.pid for p in left]}"
    assert not alive, f"JupyterLab or a kernel did not stop cleanly; killed {[p.pid for p in alive]}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab from the course environment on 127.0.0.1, a free port and a random token."""
    home = tmp_path_factory.mktemp("jupyterlab")
    settings = home / "user-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    app_settings = home / "app-settings"
    (app_settings / "overrides.d").mkdir(parents=True)
    shutil.copy(COURSE_LAB_DEFAULTS, app_settings / "overrides.d" / "gradclip.json")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL") and not k.startswith("PYTEST")}
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"))
    port, token = _free_port(), secrets.token_hex(24)
    log = home / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LabApp.app_settings_dir={app_settings}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read kernel state and cell models
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # not notebooks/.ipynb_checkpoints
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(port, token, process, log, home / "runtime")
    started = time.monotonic()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert process.poll() is None, f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}"
            try:
                if _get(port, "/api/status", token).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"JupyterLab not ready after {SERVER_START_S} s:\n{server.log_tail()}"
            time.sleep(0.5)
        autosave = json.loads(_get(port, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin", token).body)
        assert autosave["settings"].get("autosave") is False, "the test server must not save notebooks"
        yield server
    finally:
        _stop(server)
    took = time.monotonic() - started
    if took > BUDGET_S:
        warnings.warn(f"the browser tests took {took:.0f} s, over their {BUDGET_S} s budget", stacklevel=1)


def test_server_refuses_requests_without_the_token(lab):
    assert _get(lab.port, "/api/status", lab.token).status == 200
    for path in ("/api/status", "/api/contents/notebooks", "/api/kernels", "/api/sessions"):
        assert _get(lab.port, path).status == 403, path
        assert _get(lab.port, path, "not-the-token").status == 403, path
    page = _get(lab.port, "/lab/tree/notebooks")
    assert page.status == 302 and "/login" in page.getheader("Location", ""), (page.status, page.headers)
    assert lab.token not in page.body.decode(errors="replace")


@pytest.fixture(scope="module")
def browser_context():
    """One browser context for all notebooks: JupyterLab's assets load once."""
    with launched_chromium() as chromium:
        context = chromium.new_context()
        yield context
        context.close()


# Read the state of one notebook from JupyterLab's models (window.jupyterapp).
NOTEBOOK_STATE_JS = r"""
(path) => {
  const WIDGET = 'application/vnd.jupyter.widget-view+json';
  const app = window.jupyterapp;
  if (!app) return null;
  const panel = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
  if (!panel || !panel.context.isReady) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.model.cells;
  const state = {kernel: kernel ? kernel.status : null, code: 0, executed: 0, errors: [], images: 0,
                 explorers: [], dashboards: []};
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    state.code += 1;
    if (cell.executionCount !== null) state.executed += 1;
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j).toJSON();
      if (out.output_type === 'error') state.errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
      if (out.data && out.data['image/png']) state.images += 1;
      const text = out.data ? [].concat(out.data['text/plain'] || []).join('') : '';
      if (out.data && out.data[WIDGET] && /^\w*Explorer\(/.test(text)) state.explorers.push(i);
      if (out.data && out.data[WIDGET] && /^TrainingDashboard\(/.test(text)) state.dashboards.push(i);
    }
  }
  state.dirty = panel.context.model.dirty;
  return state;
}
"""


def _state(page, path):
    return page.evaluate(NOTEBOOK_STATE_JS, path)


# One Python expression evaluated in the notebook's kernel, silently: no output, no
# execution count, nothing the notebook shows (execute_request's user_expressions).
# Shell messages are handled in order, so it sees every widget change sent before it.
KERNEL_EXPRESSION_JS = r"""
async ([path, expression]) => {
  const panel = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === path);
  const kernel = panel.sessionContext.session.kernel;
  const reply = await kernel.requestExecute(
    {code: '', silent: true, store_history: false, user_expressions: {value: expression}}).done;
  const value = reply.content.user_expressions.value;
  return value.status === 'ok' ? value.data['text/plain'] : `${value.ename}: ${value.evalue}`;
}
"""


def _kernel_value(page, path, expression: str):
    """The value of a Python expression in the notebook's kernel, through JSON."""
    text = page.evaluate(KERNEL_EXPRESSION_JS, [path, f"__import__('json').dumps({expression})"])
    try:
        return json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError) as exc:
        raise AssertionError(f"{expression} in the kernel: {text}") from exc


def _wait_for(page, path, predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline:
        state = _state(page, path)
        if state is not None and predicate(state):
            return state
        page.wait_for_timeout(250)
    raise AssertionError(f"{what}: not after {timeout_s} s; last state {state}")


def _idle(state):
    return state["kernel"] == "idle"


def _error_texts(page) -> list[str]:
    """Tracebacks and error messages shown anywhere in the notebook, widgets included."""
    texts = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    shown = [t for t in texts if re.search(r"Traceback|Error|Exception", t)]
    shown += [t for t in page.locator(".jupyter-widgets .widget-html-content").all_inner_texts()
              if re.search(r"\w+(Error|Exception)\b", t)]  # FigureExplorer shows a failed draw here
    body = page.locator(NOTEBOOK).inner_text()
    shown += re.findall(r"(?:Error displaying widget|Failed to (?:load|render) [^\n]*)[^\n]*", body)
    return shown


def _widget_images(cell):
    return cell.locator(".jupyter-widgets .jp-RenderedImage img")


def _widget_srcs(cell) -> list[str]:
    return cell.locator(".jupyter-widgets .jp-RenderedImage img").evaluate_all("imgs => imgs.map(i => i.src)")


def _poll(page, predicate, timeout_s, what, interval_ms=100):
    """Call predicate until it returns something true; return that, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout_s} s")
        page.wait_for_timeout(interval_ms)


def _drive_dashboard(page, path: str, cell, index: int) -> str:
    """Press Start, see the figure change, type a good then a bad threshold, wait for the end.

    Returns a line saying what it saw.
    """
    buttons = cell.locator("button.widget-button")
    box = cell.locator(".jupyter-widgets.widget-text input[type=number]")
    message = cell.locator(".jupyter-widgets .widget-html-content")
    image = _widget_images(cell)
    image.first.wait_for(timeout=30_000)
    labels = [text.strip() for text in buttons.all_inner_texts()]
    assert labels.count("Start") == 1 and box.count() == 1 and image.count() == 1, \
        f"cell {index}: dashboard controls (buttons {labels}, threshold {box.count()}, figure {image.count()})"
    start = buttons.nth(labels.index("Start"))  # by position: its text changes to Pause while it runs
    assert start.is_enabled(), f"cell {index}: Start is disabled before the run"
    assert message.inner_text().strip() == "", f"cell {index}: {message.inner_text()}"
    figure = lambda: image.first.get_attribute("src")  # noqa: E731
    label = lambda: start.inner_text().strip()  # noqa: E731  Start, then Pause while it runs
    first_value, first_figure = box.input_value(), figure()
    seen = [first_figure]

    def watch():  # remember each figure shown
        src = figure()
        if src != seen[-1]:
            seen.append(src)
        return src

    start.click()
    # The figure changes while training runs: a new figure while the button says Pause.
    _poll(page, lambda: watch() != first_figure and label() == "Pause", 30,
          f"cell {index}: the dashboard's figure changing while it trains after Start")

    # A valid threshold, typed while it trains: taken (no error, the box keeps it), and the
    # figure goes on changing or the run finishes.
    new_value = "50" if float(first_value) != 50 else "10"
    running_at_change = label() == "Pause"
    figure_at_change = watch()
    box.fill(new_value)
    box.press("Enter")
    _poll(page, lambda: watch() != figure_at_change or start.is_disabled(), DASHBOARD_S,
          f"cell {index}: the figure changing or the run finishing after threshold {new_value}")
    assert message.inner_text().strip() == "", f"cell {index}: threshold {new_value}: {message.inner_text()}"
    assert float(box.input_value()) == float(new_value), (new_value, box.input_value())

    # An invalid threshold: refused, the widget says why, the box shows the setting in force.
    running_at_refusal = label() == "Pause"
    box.fill("-1")
    box.press("Enter")
    _poll(page, lambda: re.search(r"\bValueError\b.*-1", message.inner_text())
          and float(box.input_value() or "nan") == float(new_value), 15,
          f"cell {index}: an error shown for threshold -1 and the box back at {new_value} "
          f"(message {message.inner_text()!r}, box {box.input_value()!r})")
    error = message.inner_text().strip()

    # The run finishes: Start disabled (press Reset to train again), the last figure drawn.
    _poll(page, lambda: watch() and start.is_disabled() and label() == "Start", DASHBOARD_S,
          f"cell {index}: the dashboard's run finishing (Start disabled)")
    page.wait_for_timeout(300)  # the final redraw comes just before the button changes
    watch()
    assert len(seen) >= 3, f"cell {index}: {len(seen)} figures shown, from Press Start to the end"
    assert float(box.input_value()) == float(new_value), (new_value, box.input_value())

    # The kernel's side: the run finished all its steps, at the new threshold, taken at a
    # step inside the run when it was typed while the run went on.
    dashboards = _kernel_value(page, path, (
        "[(d.status, d.trainer.steps, d.trainer.steps_per_epoch * d.epochs, d.changes)"
        " for d in list(globals().values()) if type(d).__name__ == 'TrainingDashboard' and d.live]"))
    assert len(dashboards) == 1, f"cell {index}: live dashboards in the kernel: {dashboards}"
    status, steps, planned, changes = dashboards[0]
    assert (status, steps) == ("finished", planned), dashboards
    assert changes[-1][2] == float(new_value), f"cell {index}: settings {changes}, typed {new_value}"
    if running_at_change:
        assert 0 < changes[-1][0] < planned, f"cell {index}: settings {changes} ({planned} steps)"
    return (f"dashboard in cell {index}: {len(seen)} figures, threshold {new_value} typed "
            f"{'while running' if running_at_change else 'after the end'}, changes {changes}, "
            f"-1 refused {'while running' if running_at_refusal else 'after the end'} with {error!r}")


def _screenshot(page, name: str) -> Path:
    """The whole notebook: make the window as tall as the notebook's scroll height."""
    scroller = f"{PANEL} .jp-WindowedPanel-outer"
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook, not the file browser
    page.wait_for_timeout(100)
    height = page.locator(scroller).evaluate("s => s.scrollHeight - s.clientHeight")
    page.set_viewport_size({"width": 1280, "height": min(900 + int(height), 16000)})
    page.wait_for_timeout(300)
    page.locator(scroller).evaluate("s => { s.scrollTop = 0; }")
    page.wait_for_timeout(100)
    box = page.locator(f"{NOTEBOOK} .jp-Cell").last.bounding_box()  # leave out the scroll-past-end space
    viewport = page.viewport_size
    bottom = min(viewport["height"], box["y"] + box["height"] + 40) if box else viewport["height"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": viewport["width"], "height": bottom})
    return path


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_in_jupyterlab(notebook, browser_context, lab):
    committed = nbformat.read(notebook, as_version=4)
    widget_outputs = {i: [o["data"] for o in c.outputs if WIDGET_MIME in o.get("data", {})]
                      for i, c in enumerate(committed.cells) if c.cell_type == "code"}
    widget_cells = [i for i, datas in widget_outputs.items() if datas]  # explorers, tqdm progress bars
    explorer_cells = [i for i in widget_cells if any(
        str(d.get("text/plain", "")).startswith("FigureExplorer(") for d in widget_outputs[i])]
    dashboard_cells = [i for i in widget_cells if any(
        str(d.get("text/plain", "")).startswith("TrainingDashboard(") for d in widget_outputs[i])]
    # The committed figures, less the static images an explorer or a dashboard leaves beside itself
    # when run without a browser: in JupyterLab the widget draws them inside itself instead.
    figures = sum(1 for i, c in enumerate(committed.cells) if c.cell_type == "code"
                  and i not in explorer_cells + dashboard_cells
                  for o in c.outputs if "image/png" in o.get("data", {}))
    rel = notebook.relative_to(ROOT).as_posix()

    for stale in (f"{notebook.stem}.png", f"{notebook.stem}-failed.png"):
        (SCREENSHOTS / stale).unlink(missing_ok=True)
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    console_errors = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    timings, start = {}, time.monotonic()
    try:
        page.goto(f"{lab.url}/lab/tree/{rel}?reset&token={lab.token}", timeout=60_000)  # reset: only this notebook open
        page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(timeout=60_000)
        _wait_for(page, rel, _idle, 90, "kernel started and idle")
        timings["open"] = time.monotonic() - start

        # Start from a blank page, as a learner who clears the outputs, then Run > Run All Cells.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        cleared = _wait_for(page, rel, lambda s: s["executed"] == 0 and s["images"] == 0, 10, "outputs cleared")
        assert cleared["code"] > 0
        page.locator(NOTEBOOK).first.click(position={"x": 5, "y": 5})  # focus the notebook
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        state = _wait_for(page, rel, lambda s: _idle(s) and (s["executed"] == s["code"] or s["errors"]),
                          RUN_ALL_S, "all cells run")
        assert not state["errors"], f"error outputs: {state['errors']}"
        assert state["executed"] == state["code"]
        assert page.locator(f"{NOTEBOOK} .jp-InputPrompt", has_text="[*]").count() == 0

        cells = page.locator(f"{NOTEBOOK} .jp-Cell")
        assert cells.count() == len(committed.cells)
        for index in widget_cells:  # every widget the committed notebook shows is drawn here too
            cells.nth(index).locator(".jupyter-widgets").first.wait_for(timeout=30_000)
        for index in explorer_cells:
            _widget_images(cells.nth(index)).first.wait_for(timeout=30_000)
        # The explorers this run displayed (FigureExplorer, however it was built), committed or not.
        explorers = state["explorers"]
        assert set(explorer_cells) <= set(explorers), (explorer_cells, explorers)

        # The figures rendered as images: the committed ones, and at least one per explorer.
        images = page.locator(f"{NOTEBOOK} .jp-RenderedImage img")
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n",
            arg=[f"{NOTEBOOK} .jp-RenderedImage img", figures + len(explorers)], timeout=30_000)
        loaded = images.evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 100).length")
        assert loaded >= figures + len(explorers), (loaded, figures, explorers)
        assert not _error_texts(page), _error_texts(page)
        assert not NEWS_PROMPT.search(page.locator("body").inner_text()), "JupyterLab asks about Jupyter news"
        timings["run all"] = time.monotonic() - start - timings["open"]

        for index in explorers:
            cell = cells.nth(index)
            _widget_images(cell).first.wait_for(timeout=30_000)
            before = _widget_srcs(cell)
            slider = cell.locator(".jupyter-widgets .widget-slider").first
            readout = slider.locator(".widget-readout")
            value_before = readout.inner_text()
            handle = slider.locator(".noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            for key in ("ArrowRight", "ArrowLeft"):  # ArrowLeft: the slider started at its maximum
                for _ in range(2):  # continuous_update=False: each key press is one change
                    handle.press(key)
                if readout.inner_text() != value_before:
                    break
            assert readout.inner_text() != value_before, f"cell {index}: the slider did not move with the keyboard"
            try:
                page.wait_for_function(
                    """([cell, before]) => {
                        const srcs = Array.from(cell.querySelectorAll('.jupyter-widgets .jp-RenderedImage img'))
                                          .map(i => i.src);
                        return srcs.length >= before.length && srcs.some((s, k) => s !== before[k]);
                    }""",
                    arg=[cell.element_handle(), before], timeout=WIDGET_REDRAW_S * 1000)
            except Exception as exc:  # playwright's TimeoutError
                raise AssertionError(
                    f"cell {index}: slider moved from {value_before} to {readout.inner_text()} "
                    f"but the widget's figure did not change in {WIDGET_REDRAW_S} s") from exc
            _wait_for(page, rel, _idle, WIDGET_REDRAW_S, "kernel idle after the slider moved")
            page.wait_for_timeout(500)
            after = _widget_srcs(cell)
            assert after != before and all(after), "the widget's figure did not change"
            assert not _error_texts(page), _error_texts(page)

        timings["widgets"] = time.monotonic() - start - timings["open"] - timings["run all"]

        # After the dashboards, the widget shows the refusal of -1: no _error_texts check from here on.
        assert set(dashboard_cells) <= set(state["dashboards"]), (dashboard_cells, state["dashboards"])
        for index in state["dashboards"]:
            print(_drive_dashboard(page, rel, cells.nth(index), index))
        if state["dashboards"]:
            timings["dashboards"] = time.monotonic() - start - sum(timings.values())
        assert not console_errors, f"JavaScript errors in the page: {console_errors}"
        _screenshot(page, notebook.stem)
        timings["screenshot"] = time.monotonic() - start - sum(timings.values())
    except BaseException:
        try:  # what the learner would have seen
            _screenshot(page, f"{notebook.stem}-failed")
        except Exception:
            pass
        raise
    finally:
        page.close()
        lab.shutdown_sessions_soon()
        timings["total"] = time.monotonic() - start
        print(notebook.stem, ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))  # shown with -rP
