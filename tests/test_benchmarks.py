"""The benchmark command on tiny sizes: it runs, and what it writes has the right shape.

No timing is asserted (timings vary between machines); ``make bench`` measures.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gradclip_helpers as gh  # noqa: E402
from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import calls, clippers, dashboard, report, steps  # noqa: E402
from benchmarks import notebooks as nb_bench  # noqa: E402

TINY = steps.StepConfig(batch_sizes=(32,), n_train=64, repeats=1, extra_steps=2,
                        methods=("none", "global_norm"), norm_variants=("norms_off",))
TINY_CLIPPERS = clippers.ClipperConfig(batch_sizes=(32,), iterations=20, repeats=1,
                                       methods=("none", "global_norm", "autoclip"))
TINY_CALLS = calls.CallConfig(batch_sizes=(32,), steps=2, repeats=1,
                              changes=("global_norm threshold", "autoclip threshold"))
TINY_DASHBOARD = dashboard.DashboardConfig(n_samples=128, epochs=2, redraw_every=1, repeats=1)


@pytest.fixture(scope="module")
def tiny_notebook(tmp_path_factory) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("N = 3")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), params, nbformat.v4.new_code_cell("print(sum(range(N)))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("nb") / "00_tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def result(tiny_notebook) -> dict:
    # The notebook's kernel starts while the tiny step benchmark runs (the real command runs
    # them one after the other); then the result is put together as run() does it.
    with ThreadPoolExecutor(1) as pool:
        notebooks = pool.submit(nb_bench.run_notebook_benchmark, [tiny_notebook], log=lambda _: None)
        out = cli.run(TINY, False, "python -m benchmarks (test)", ["a test note"], log=lambda _: None,
                      clipper_config=TINY_CLIPPERS, call_config=TINY_CALLS, dashboard_config=TINY_DASHBOARD)
        out["notebooks"] = notebooks.result()
    out["targets"] = report.evaluate_targets(out["derived"], out["notebooks"], out["clipper_costs"], out["calls"])
    return out


def test_every_registered_method_is_benchmarked_and_fit_only_where_keras_has_it():

    assert steps.methods_to_run(steps.FULL)[0] == "none"
    assert set(steps.methods_to_run(steps.FULL)) == set(gh.CLIPPERS)
    jobs = steps.make_jobs(steps.FULL.with_(batch_sizes=(32,)))
    for method in gh.CLIPPERS:
        assert steps.make_benchmark_clipper(method).method == method
        assert any(j.path == "train" and j.method == method for j in jobs)
        has_fit = any(j.path == "fit" and j.method == method for j in jobs)
        assert has_fit == (steps.keras_equivalent(method) is not None)
        assert has_fit == any(j.path == "fit_spe" and j.method == method for j in jobs)
        assert any(j.path == "bare" and j.method == method for j in jobs) == (method in steps.BARE_CLIPS)
    assert steps.STEPS_PER_CALL == gh.Trainer(gh.seed_mlp(2), (np.ones((4, 2)), np.ones((4, 1))),
                                              optimizer=keras.optimizers.SGD()).steps_per_call
    assert {j.variant for j in jobs if j.path == "train"} == set(steps.NORM_VARIANTS)
    with pytest.raises(ValueError, match="unknown methods"):
        steps.methods_to_run(TINY.with_(methods=("nope",)))


def test_the_result_has_every_part(result):
    rows = result["steps"]["rows"]
    keys = {(r["path"], r["method"], r["variant"]) for r in rows}
    assert keys == {(path, method, "default") for path in ("train", "fit", "fit_spe", "bare")
                    for method in ("none", "global_norm")} | {("train", "global_norm", "norms_off")}
    for row in rows:
        assert row["per_step_ms"]["n"] == 1 and len(row["samples"]["per_step_ms"]) == 1
        assert row["diverged_runs"] == 0
        assert row["path"] != "train" or row["max_traces"] == 0  # timed calls reuse the first call's trace
        if row["path"] == "fit_spe":
            assert row["steps_per_execution"] == steps.STEPS_PER_CALL
    derived = result["derived"]
    assert [(r["batch_size"], r["method"]) for r in derived["train_vs_fit"]] == [(32, "none"), (32, "global_norm")]
    assert all(r["ratio"] is None or r["ratio"]["n"] == 1 for r in derived["train_vs_fit"])
    assert all(r["spe_ratio"]["n"] == 1 and r["bare_ratio"]["n"] == 1 for r in derived["train_vs_fit"])
    assert [r["method"] for r in derived["clipping_cost"]] == ["global_norm"]
    assert [r["variant"] for r in derived["norm_recording"]] == ["norms_off", "default"]
    [nb] = result["notebooks"]
    assert nb["notebook"] == "00_tiny.ipynb" and nb["returncode"] == 0, nb["error"]
    assert nb["seconds"] > 0 and nb["peak_rss_bytes"] > 10e6  # a Python kernel is at least ~10 MB
    costs = {r["method"]: r for r in result["clipper_costs"]}
    assert set(costs) == {"global_norm", "autoclip"} and costs["autoclip"]["keras_us"] is None
    # None only if two tiny loops' noise made our own cost look <= 0
    assert costs["global_norm"]["over_global_norm"] in (1.0, None) and costs["global_norm"]["keras_us"] is not None
    assert {r["path"] for r in result["calls"]["cold"]} == {"train", "fit"}
    assert all(r["cold_s"]["min"] > 0 and r["second_s"]["min"] > 0 for r in result["calls"]["cold"])
    assert [r["change"] for r in result["calls"]["changes"]] == list(TINY_CALLS.changes)
    dash = result["dashboard"]
    assert dash["plain_s"] > 0 and dash["dashboard_s"] > 0 and dash["redraws"] >= 1
    assert dash["overhead"] == pytest.approx(dash["dashboard_s"] / (dash["plain_s"] + dash["figure_s"]) - 1)
    names = [t["target"] for t in result["targets"]]
    for name in ("train() step / fit with steps_per_execution matched, global norm, batch 32",
                 "train() step / the bare loop, global norm, batch 32",
                 "clipping overhead in train(), global_norm, batch 32",
                 "global_norm clipping alone / Keras' own path",
                 "autoclip clipping alone / our global-norm clipping",
                 "cold 2-step call, train() / compile + fit, batch 32",
                 "global_norm threshold change on a live Trainer, next advance included",
                 "autoclip threshold change on a live Trainer, next advance included"):
        assert name in names
    assert "00_tiny.ipynb wall time" in names and "00_tiny.ipynb peak memory" in names
    assert all(isinstance(t["met"], bool) for t in result["targets"])
    assert result["machine"]["tensorflow"] and result["machine"]["cpu_model"]
    assert result["load"]["max_during"] >= result["load"]["before"]


def test_it_writes_json_and_markdown(result, tmp_path):
    json_path, md_path = report.write_results(result, tmp_path)
    assert json_path.name == f"{result['machine_slug']}.json" and md_path.suffix == ".md"
    loaded = json.loads(json_path.read_text())
    assert loaded["schema"] == 1 and set(loaded) >= {"machine", "steps", "derived", "notebooks", "targets", "load"}
    md = md_path.read_text()
    for heading in ("## Targets", "## 1. Step time", "## 2. Cost of clipping", "## 3. Notebooks",
                    "## 4. Recording norms", "## 5. Each clipper alone", "## 6. One call",
                    "## 7. Changing the threshold", "## 8. Watching live", "## How it was measured"):
        assert heading in md
    assert "| 32 | global_norm | `GlobalNormClipper(threshold=1.0)` | global_clipnorm=1.0 |" in md
    assert "| 00_tiny.ipynb |" in md and "a test note" in md
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)
    assert "### Targets" in report.render_markdown(result, heading="##")


def test_the_command_line():
    args = cli.parse_args(["--quick", "--skip-notebooks", "--out", "x", "--methods", "none,value",
                           "--skip-parts", "dashboard"])
    assert args.quick and args.skip_notebooks and args.out == Path("x") and args.methods == "none,value"
    assert args.skip_parts == "dashboard"
    with pytest.raises(SystemExit, match="unknown parts"):
        cli.main(["--skip-parts", "nope"])
    assert steps.QUICK.repeats < steps.FULL.repeats
    assert report.machine_slug({"cpu_model": "AMD EPYC 7B13", "cpus_usable": 2, "gpus": []}) == "amd-epyc-7b13-2cpu"
