"""Wall time and peak memory of a papermill run of each notebook, with its defaults.

Each notebook runs as ``python -m papermill`` in a subprocess, as a user or CI
would. The wall time is that whole command: kernel start, TensorFlow import,
every cell, writing the output. Memory is the kernel's process tree (every
process below papermill, not papermill itself), polled with psutil: the peak of
the summed RSS, and each kernel process's own high-water mark (``VmHWM`` in
``/proc/PID/status``, exact, where Linux provides it). The larger is reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"


def find_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def _vmhwm_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_notebook(path: Path, workdir: Path, timeout: float = 600.0, poll_s: float = 0.05) -> dict[str, object]:
    """Run one notebook with papermill and its defaults; time it and watch the kernel's memory."""
    path = Path(path)
    workdir = Path(workdir)
    out = workdir / path.name
    log = workdir / f"{path.stem}.log"
    cmd = [sys.executable, "-m", "papermill", str(path), str(out), "--cwd", str(path.parent),
           "-k", "python3", "--no-progress-bar", "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    peak_tree, hwm, timed_out = 0, 0, False
    with open(log, "wb") as log_file:
        start = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            try:
                kids = proc.children(recursive=True)
            except psutil.NoSuchProcess:
                kids = []
            total = 0
            for kid in kids:
                try:
                    total += kid.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                hwm = max(hwm, _vmhwm_bytes(kid.pid))
            peak_tree = max(peak_tree, total)
            if time.perf_counter() - start > timeout:
                timed_out = True
                for p in kids + [proc]:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
                proc.wait()
                break
            time.sleep(poll_s)
        seconds = time.perf_counter() - start
    tail = log.read_text(errors="replace")[-2000:] if proc.returncode else ""
    return {
        "notebook": path.name,
        "seconds": seconds,
        "peak_rss_bytes": max(peak_tree, hwm),
        "peak_tree_rss_polled_bytes": peak_tree,
        "kernel_vmhwm_bytes": hwm,
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "error": tail or None,
    }


def run_notebook_benchmark(notebooks: list[Path] | None = None, workdir: Path | None = None,
                           log=print) -> list[dict[str, object]]:
    """Run every notebook in ``notebooks/`` (or the given ones) one after the other."""
    notebooks = find_notebooks() if notebooks is None else [Path(p) for p in notebooks]
    results = []
    with tempfile.TemporaryDirectory(prefix="gradclip-bench-") as tmp:
        workdir = Path(workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for nb in notebooks:
            load = os.getloadavg()[0]
            result = run_notebook(nb, workdir)
            result["load_1min_before"] = load
            results.append(result)
            status = "ok" if result["returncode"] == 0 else f"FAILED (rc {result['returncode']})"
            log(f"{nb.name}: {result['seconds']:.1f} s, {result['peak_rss_bytes'] / 1e6:.0f} MB, {status}")
    return results
