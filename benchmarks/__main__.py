"""``python -m benchmarks``: run the benchmarks and write ``<out>/<machine>.md`` and ``.json``.

Options: ``--quick`` (few repeats, fewer steps: a smoke test, not for the
committed table), ``--skip-notebooks``, ``--skip-steps`` (also skips the parts
below), ``--skip-parts clippers,calls,dashboard``, ``--out DIR`` (default
``benchmarks/results``), ``--repeats N``, ``--methods a,b``, ``--machine NAME``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import gradclip_helpers  # noqa: F401  (import before TensorFlow: quiet start-up logs)

from . import calls as call_bench
from . import clippers as clip_bench
from . import dashboard as dash_bench
from . import notebooks as nb_bench
from . import report, steps

# The parts beside the step times: (full, quick) configuration and run()'s keyword for each.
PARTS = {
    "clippers": (clip_bench.FULL, clip_bench.QUICK, "clipper_config"),
    "calls": (call_bench.FULL, call_bench.QUICK, "call_config"),
    "dashboard": (dash_bench.FULL, dash_bench.QUICK, "dashboard_config"),
}

RESULTS = Path(__file__).resolve().parent / "results"


def run(config: steps.StepConfig | None, run_notebooks: bool, command: str, notes: list[str] | None = None,
        notebook_paths: list[Path] | None = None, machine_name: str | None = None, log=print,
        clipper_config: clip_bench.ClipperConfig | None = None, call_config: call_bench.CallConfig | None = None,
        dashboard_config: dash_bench.DashboardConfig | None = None) -> dict:
    """Run what is asked (a ``None`` config skips its part) and return the whole result, derived numbers and targets."""
    machine = report.machine_info()
    result: dict = {
        "schema": 1,
        "machine": machine,
        "code": report.code_info(),
        "machine_slug": machine_name or report.machine_slug(machine),
        "command": command,
        "started": report.now_utc(),
        "load": {"before": os.getloadavg()[0]},
        "notes": list(notes or []),
    }
    loads = [result["load"]["before"]]
    start = time.time()
    if config is not None:
        log(f"step-time benchmark: methods {steps.methods_to_run(config)}, batches {config.batch_sizes}, "
            f"{config.repeats} repeats")
        result["steps"] = steps.run_step_benchmark(config, log=log)
        result["derived"] = steps.derive(result["steps"])
        loads += result["steps"]["load_1min_per_repeat"]
    if clipper_config is not None:
        log("each clipper alone:")
        result["clippers"] = clip_bench.run_clipper_benchmark(clipper_config, log=log)
        result["clipper_costs"] = clip_bench.derive(result["clippers"])
        loads.append(os.getloadavg()[0])
    if call_config is not None:
        log("cold calls and threshold changes:")
        result["calls"] = call_bench.run_call_benchmark(call_config, log=log)
        loads.append(os.getloadavg()[0])
    if dashboard_config is not None:
        log("dashboard overhead:")
        result["dashboard"] = dash_bench.run_dashboard_benchmark(dashboard_config, log=log)
        loads.append(os.getloadavg()[0])
    if run_notebooks:
        log("notebooks:")
        result["notebooks"] = nb_bench.run_notebook_benchmark(notebook_paths, log=log)
        loads += [n["load_1min_before"] for n in result["notebooks"]]
    result["load"]["after"] = os.getloadavg()[0]
    result["load"]["max_during"] = max(loads + [result["load"]["after"]])
    result["seconds"] = time.time() - start
    result["targets"] = report.evaluate_targets(result.get("derived", {}), result.get("notebooks"),
                                                result.get("clipper_costs"), result.get("calls"))
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few repeats and steps: a smoke test")
    p.add_argument("--skip-notebooks", action="store_true", help="do not run the notebooks")
    p.add_argument("--skip-steps", action="store_true", help="only run the notebooks")
    p.add_argument("--skip-parts", default="", help=f"comma-separated parts to skip: {', '.join(PARTS)}")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"output folder (default {RESULTS})")
    p.add_argument("--repeats", type=int, help="interleaved repeats (default 7, 2 with --quick)")
    p.add_argument("--methods", help="comma-separated methods (default: all in gh.CLIPPERS)")
    p.add_argument("--machine", help="file name for the results (default: from the CPU and GPU)")
    p.add_argument("--note", action="append", default=[], help="a line added to the table's notes")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = None
    skip = {p.strip() for p in args.skip_parts.split(",") if p.strip()}
    if skip - set(PARTS):
        raise SystemExit(f"unknown parts {sorted(skip - set(PARTS))}; choose from {', '.join(PARTS)}")
    extras: dict[str, object] = {}
    if not args.skip_steps:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else None
        for part, (full, quick, keyword) in PARTS.items():
            if part not in skip:
                extras[keyword] = quick if args.quick else full
        if methods and "clipper_config" in extras:
            extras["clipper_config"] = extras["clipper_config"].with_(methods=tuple({"none", *methods}))
        config = steps.QUICK if args.quick else steps.FULL
        if args.repeats:
            config = config.with_(repeats=args.repeats)
        if methods:
            config = config.with_(methods=methods)
    notes = list(args.note)
    if args.quick:
        notes.append("--quick: a smoke test with few repeats, not a measurement")
    command = "python -m benchmarks" + (" " + shlex.join(sys.argv[1:] if argv is None else argv)
                                        if (sys.argv[1:] if argv is None else argv) else "")
    result = run(config, not args.skip_notebooks, command, notes, machine_name=args.machine, **extras)
    json_path, md_path = report.write_results(result, args.out)
    print(report.render_markdown(result))
    print(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
