"""The benchmark command on tiny sizes: it runs, and what it writes has the right shape.

No timing is asserted (timings vary between machines); ``make bench`` measures.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import notebooks as nb_bench  # noqa: E402
from benchmarks import report, steps  # noqa: E402

TINY = steps.StepConfig(batch_sizes=(32,), n_train=64, repeats=1, extra_steps=2,
                        methods=("none", "global_norm"), norm_variants=("norms_off",), warmup=False)


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
        out = cli.run(TINY, False, "python -m benchmarks (test)", ["a test note"], log=lambda _: None)
        out["notebooks"] = notebooks.result()
    out["targets"] = report.evaluate_targets(out["derived"], out["notebooks"])
    return out


def test_every_registered_method_is_benchmarked_and_fit_only_where_keras_has_it():
    import gradclip_helpers as gh

    assert steps.methods_to_run(steps.FULL)[0] == "none"
    assert set(steps.methods_to_run(steps.FULL)) == set(gh.CLIPPERS)
    jobs = steps.make_jobs(steps.FULL.with_(batch_sizes=(32,)))
    for method in gh.CLIPPERS:
        assert steps.make_benchmark_clipper(method).method == method
        assert any(j.path == "train" and j.method == method for j in jobs)
        has_fit = any(j.path == "fit" and j.method == method for j in jobs)
        assert has_fit == (steps.keras_equivalent(method) is not None)
    assert {j.variant for j in jobs if j.path == "train"} == set(steps.NORM_VARIANTS)
    with pytest.raises(ValueError, match="unknown methods"):
        steps.methods_to_run(TINY.with_(methods=("nope",)))


def test_the_result_has_every_part(result):
    rows = result["steps"]["rows"]
    keys = {(r["path"], r["method"], r["variant"]) for r in rows}
    assert keys == {("train", "none", "default"), ("fit", "none", "default"),
                    ("train", "global_norm", "default"), ("fit", "global_norm", "default"),
                    ("train", "global_norm", "norms_off")}
    for row in rows:
        assert row["per_step_ms"]["n"] == 1 and len(row["samples"]["per_step_ms"]) == 1
        assert row["diverged_runs"] == 0
        assert row["path"] == "fit" or row["max_traces"] == 1  # train() traced once per call
    derived = result["derived"]
    assert [(r["batch_size"], r["method"]) for r in derived["train_vs_fit"]] == [(32, "none"), (32, "global_norm")]
    assert all(r["ratio"] is None or r["ratio"]["n"] == 1 for r in derived["train_vs_fit"])
    assert [r["method"] for r in derived["clipping_cost"]] == ["global_norm"]
    assert [r["variant"] for r in derived["norm_recording"]] == ["norms_off", "default"]
    [nb] = result["notebooks"]
    assert nb["notebook"] == "00_tiny.ipynb" and nb["returncode"] == 0, nb["error"]
    assert nb["seconds"] > 0 and nb["peak_rss_bytes"] > 10e6  # a Python kernel is at least ~10 MB
    names = [t["target"] for t in result["targets"]]
    assert "train()/fit, global norm, batch 32" in names
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
                    "## 4. Recording norms", "## How it was measured"):
        assert heading in md
    assert "| 32 | global_norm | `GlobalNormClipper(threshold=1.0)` | global_clipnorm=1.0 |" in md
    assert "| 00_tiny.ipynb |" in md and "a test note" in md
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)
    assert "### Targets" in report.render_markdown(result, heading="##")


def test_the_command_line():
    args = cli.parse_args(["--quick", "--skip-notebooks", "--out", "x", "--methods", "none,value"])
    assert args.quick and args.skip_notebooks and args.out == Path("x") and args.methods == "none,value"
    assert steps.QUICK.repeats < steps.FULL.repeats
    assert report.machine_slug({"cpu_model": "AMD EPYC 7B13", "cpus_usable": 2, "gpus": []}) == "amd-epyc-7b13-2cpu"
