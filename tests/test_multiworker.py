"""Two worker processes on 127.0.0.1 train with MultiWorkerMirroredStrategy and clip after the all-reduce.

Each worker runs ``tests/multiworker_worker.py`` with its own ``TF_CONFIG``;
a third process runs the same training without a strategy on the same global
batches. Both workers must report the same gradient norms and weights, and
these must match the single process. A Keras optimizer's own
``global_clipnorm`` is measured too: it clips per replica, so its update norm
exceeds the threshold.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("multiworker_worker.py")
TIMEOUT_S = 120


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(args: list[str], tmp_path: Path, name: str, tf_config: dict | None) -> tuple[subprocess.Popen, Path, Path]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=stdout, stderr=stderr,
                                env=env, cwd=str(SCRIPT.parents[1]))
    return proc, out, err


@pytest.mark.slow
def test_two_workers_clip_the_all_reduced_gradient(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    runs = {f"worker{i}": ([], {"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(2)}
    runs["single"] = (["--single"], None)
    procs = {}
    try:
        for name, (args, tf_config) in runs.items():
            procs[name] = _start(args, tmp_path, name, tf_config)
        deadline = time.monotonic() + TIMEOUT_S
        for name, (proc, _, err) in procs.items():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still running after {TIMEOUT_S} s; stderr:\n{err.read_text()[-3000:]}")
            assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{err.read_text()[-3000:]}"
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = {name: json.loads(out.read_text().strip().splitlines()[-1]) for name, (_, out, _) in procs.items()}

    w0, w1, single = results["worker0"], results["worker1"], results["single"]
    assert w0["replicas"] == w1["replicas"] == 2 and single["replicas"] == 1
    assert len(single["grad_norm"]) == 8
    # tf.distribute split every global batch: each worker trained on its half, together on the whole batch.
    for local0, local1, whole in zip(w0["local_targets"], w1["local_targets"], single["local_targets"]):
        assert len(local0) == len(local1) == len(whole) // 2
        assert sorted(local0 + local1) == sorted(whole)
    # The workers hold the same all-reduced gradient, so they agree exactly.
    assert w0["grad_norm"] == w1["grad_norm"]
    assert w0["weights"] == w1["weights"]
    # ... and it is the single-process gradient of the same global batch.
    np.testing.assert_allclose(w0["grad_norm"], single["grad_norm"], rtol=1e-5)
    assert min(single["grad_norm"]) > 1.0  # every step clipped ...
    np.testing.assert_allclose(w0["clipped_norm"], 1.0, rtol=1e-5)  # ... to the threshold, once
    np.testing.assert_allclose(w0["weights"], single["weights"], rtol=1e-5, atol=1e-6)
    assert w0["weights_sum"] == pytest.approx(single["weights_sum"], rel=1e-6)
    # Measured fact (Keras 3.15): an optimizer's global_clipnorm clips each replica's share before the
    # all-reduce, under MultiWorkerMirroredStrategy as under MirroredStrategy: the update exceeds the threshold.
    assert single["keras_update_norm"] == pytest.approx(1.0, rel=1e-5)
    assert w0["keras_update_norm"] == w1["keras_update_norm"]
    assert 1.05 < w0["keras_update_norm"] <= 2.0 + 1e-5
