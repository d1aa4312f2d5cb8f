"""The machine a benchmark ran on, the targets, and the JSON and markdown files it writes."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
from pathlib import Path

from .steps import NORM_VARIANTS

# Targets from issues 7 and 13: reported, never asserted (timings vary between machines).
TRAIN_OVER_FIT_SPE_MAX = 0.9    # train()'s step against fit with steps_per_execution matched
TRAIN_OVER_BARE_MAX = 1.1       # train()'s step against the hand-written loop
COLD_OVER_FIT_MAX = 1.0         # a cold 32-step call against compile + fit
OVER_KERAS_MAX = 1.0            # value/norm/global-norm clipping against Keras' own path, in isolation
ADAPTIVE_OVER_GLOBAL_MAX = 1.5  # AGC/AutoClip/ZClip against our global-norm clipping, in isolation
CLIP_OVERHEAD_MAX = {"global_norm": 0.03, "norm": 0.05}  # added to train()'s step over no clipping
CHANGE_SECONDS_MAX = 0.05       # a threshold change on a live Trainer, next advance included
NOTEBOOK_SECONDS_MAX = 30.0
NOTEBOOK_BYTES_MAX = 1.5e9


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def code_info() -> dict[str, object]:
    """Which gradclip_helpers ran: its folder, the git commit, and whether it had local changes."""
    import gradclip_helpers

    folder = Path(gradclip_helpers.__file__).resolve().parent
    info: dict[str, object] = {"gradclip_helpers": str(folder), "version": gradclip_helpers.__version__}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(folder.parent), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    info["commit"] = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--porcelain", "--", "gradclip_helpers", "notebooks")
    info["local_changes"] = None if changes is None else bool(changes)
    return info


def machine_info() -> dict[str, object]:
    import keras
    import numpy as np
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    gpu_names = []
    for d in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(d)
        gpu_names.append(details.get("device_name", d.name))
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "gpus": gpu_names or gpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TF_NUM_INTRAOP_THREADS",
                                            "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS") if k in os.environ},
    }


def machine_slug(machine: dict[str, object]) -> str:
    """A file name for the machine, e.g. ``amd-epyc-2cpu`` or ``amd-epyc-16cpu-nvidia-h100-80gb-hbm3``."""
    parts = [str(machine["cpu_model"]), f"{machine['cpus_usable']}cpu"]
    parts += [str(g) for g in machine.get("gpus") or []][:1]
    return re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-") or "machine"


def machine_line(machine: dict[str, object]) -> str:
    mem = machine.get("memory_bytes")
    gpus = machine.get("gpus") or []
    return (f"{machine['cpu_model']}, {machine['cpus_usable']} cores"
            + (f" ({machine['cpu_count']} online)" if machine["cpu_count"] != machine["cpus_usable"] else "")
            + (f", {mem / 2**30:.0f} GiB RAM" if mem else "")
            + (f", GPU: {', '.join(map(str, gpus))}" if gpus else ", no GPU")
            + f"; Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}")


# --------------------------------------------------------------------------
# Targets


def _target(name: str, limit: str, value: float, shown: str, met: bool, cpu: float | None = None) -> dict:
    return {"target": name, "limit": limit, "value": value, "cpu_value": cpu, "shown": shown, "met": bool(met)}


def evaluate_targets(derived: dict, notebooks: list[dict] | None, clippers: list[dict] | None = None,
                     calls: dict | None = None) -> list[dict[str, object]]:
    """Every target of issues 7 and 13 that the result has numbers for (see the module constants).

    Step times and clippers alone are judged on CPU time (the machine is shared: other processes
    blur wall time), wall time beside; single calls on wall time (what a learner waits).
    """
    targets = []
    for row in derived.get("train_vs_fit", []):
        if row["method"] != "global_norm":
            continue
        for key, wall_key, limit, what in (("spe_cpu_ratio", "spe_ratio", TRAIN_OVER_FIT_SPE_MAX,
                                            "fit with steps_per_execution matched"),
                                           ("bare_cpu_ratio", "bare_ratio", TRAIN_OVER_BARE_MAX, "the bare loop")):
            if row.get(key) is not None:
                value, wall = row[key]["median"], (row.get(wall_key) or {}).get("median")
                targets.append(_target(f"train() step / {what}, global norm, batch {row['batch_size']}",
                                       f"<= {limit}", value, f"{value:.2f}x" + (
                                           f" (wall {wall:.2f}x)" if wall is not None else ""), value <= limit, value))
    for row in derived.get("clipping_cost", []):
        limit = CLIP_OVERHEAD_MAX.get(row["method"])
        if limit is not None and row.get("train_cpu") is not None:
            value = row["train_cpu"]["median"] - 1
            wall = row["train"]["median"] - 1 if row.get("train") else None
            targets.append(_target(f"clipping overhead in train(), {row['method']}, batch {row['batch_size']}",
                                   f"<= {limit:.0%}", value, f"{value:+.1%}" + (
                                       f" (wall {wall:+.1%})" if wall is not None else ""), value <= limit, value))
    for row in clippers or []:
        # A ratio is None where its denominator drowned in the loop's own cost (not measurable: not met).
        if row.get("keras_us") is not None:
            value = row["ours_over_keras"] if row["ours_over_keras"] is not None else math.inf
            targets.append(_target(f"{row['method']} clipping alone / Keras' own path", f"<= {OVER_KERAS_MAX}",
                                   value, f"{value:.2f}x ({row['ours_us']:.1f} vs {row['keras_us']:.1f} µs)",
                                   value <= OVER_KERAS_MAX, value))
        elif row["method"] in ("agc", "autoclip", "zclip"):
            value = row["over_global_norm"] if row["over_global_norm"] is not None else math.inf
            targets.append(_target(f"{row['method']} clipping alone / our global-norm clipping",
                                   f"<= {ADAPTIVE_OVER_GLOBAL_MAX}", value,
                                   f"{value:.2f}x ({row['ours_us']:.1f} µs)", value <= ADAPTIVE_OVER_GLOBAL_MAX, value))
    if calls:
        for batch in sorted({r["batch_size"] for r in calls.get("cold", [])}):
            rows = {r["path"]: r for r in calls["cold"] if r["batch_size"] == batch}
            if {"train", "fit"} <= rows.keys():
                t, f = rows["train"]["cold_s"]["median"], rows["fit"]["cold_s"]["median"]
                targets.append(_target(f"cold {rows['train']['steps']}-step call, train() / compile + fit, "
                                       f"batch {batch}", f"<= {COLD_OVER_FIT_MAX}", t / f,
                                       f"{t / f:.2f}x ({t:.2f} vs {f:.2f} s)", t / f <= COLD_OVER_FIT_MAX))
        for row in calls.get("changes", []):
            if row["change"] != "method switch":
                value = row["with_next_advance_s"]["median"]
                targets.append(_target(f"{row['change']} change on a live Trainer, next advance included",
                                       f"< {CHANGE_SECONDS_MAX * 1e3:.0f} ms", value, f"{value * 1e3:.1f} ms",
                                       value < CHANGE_SECONDS_MAX))
    for nb in notebooks or []:
        ok = nb["returncode"] == 0
        targets.append(_target(f"{nb['notebook']} wall time", f"< {NOTEBOOK_SECONDS_MAX:.0f} s", nb["seconds"],
                               f"{nb['seconds']:.1f} s", ok and nb["seconds"] < NOTEBOOK_SECONDS_MAX))
        targets.append(_target(f"{nb['notebook']} peak memory", f"< {NOTEBOOK_BYTES_MAX / 1e9:.1f} GB",
                               nb["peak_rss_bytes"], f"{nb['peak_rss_bytes'] / 1e9:.2f} GB",
                               ok and nb["peak_rss_bytes"] < NOTEBOOK_BYTES_MAX))
    return targets


# --------------------------------------------------------------------------
# Markdown


def _ms(stats: dict | None) -> str:
    if not stats:
        return "–"
    return f"{stats['median']:.3g} [{stats['q1']:.3g}–{stats['q3']:.3g}]"


def _ratio(stats: dict | None, percent: bool = False) -> str:
    if not stats:
        return "–"
    if percent:
        return f"{stats['median'] - 1:+.1%} [{stats['q1'] - 1:+.1%}, {stats['q3'] - 1:+.1%}]"
    return f"{stats['median']:.2f} [{stats['q1']:.2f}–{stats['q3']:.2f}]"


def _ratio_cpu(wall: dict | None, cpu: dict | None) -> str:
    if not wall:
        return "–"
    return f"{wall['median']:.2f} [{wall['q1']:.2f}–{wall['q3']:.2f}]" + (f", CPU {cpu['median']:.2f}" if cpu else "")


def _clipper_of(result: dict, method: str) -> str:
    for row in result["steps"]["rows"]:
        if row["method"] == method:
            return row["clipper"]
    return method


def _keras_of(result: dict, method: str) -> str:
    for row in result["steps"]["rows"]:
        if row["method"] == method and row["path"] == "fit":
            return ", ".join(f"{k}={v}" for k, v in row["keras_kwargs"].items()) or "(none)"
    return "no Keras equivalent"


def render_markdown(result: dict, heading: str = "#") -> str:
    """The tables, with ``heading`` as the top heading level (``###`` to paste under a section)."""
    h2 = heading + "#"
    lines = [f"{heading} Benchmarks: {result['machine_slug']}", ""]
    m = result["machine"]
    code = result.get("code") or {}
    at = (f" at commit {code['commit']}" + (" with local changes" if code.get("local_changes") else "")
          if code.get("commit") else "")
    lines.append(f"Machine: {machine_line(m)}. Run {result['started']} (UTC) with `{result['command']}`{at}; "
                 f"1-minute load average {result['load']['before']:.2f} before, "
                 f"{result['load']['max_during']:.2f} at most during, {result['load']['after']:.2f} after.")
    lines.append("")
    if result.get("targets"):
        lines += [f"{h2} Targets (reported, not asserted)", "",
                  "Step times judged on CPU time (medians of per-repeat paired ratios; wall time in brackets), "
                  "clippers alone on CPU time (minimum of repeats), single calls on wall time (median of "
                  "repeats): other sessions share this machine's cores, which blurs wall time more than CPU time.",
                  "",
                  "| target | limit | measured | met |",
                  "|---|---|---:|:---:|"]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['limit']} | {t['shown']} | {'yes' if t['met'] else '**no**'} |")
        lines.append("")

    steps, derived = result.get("steps"), result.get("derived")
    if steps:
        cfg = steps["config"]
        spe = _first(steps, "steps_per_execution", path="fit_spe")
        lines += [f"{h2} 1. Step time: `gh.train()` against `model.fit` and a bare loop", "",
                  "ms per step, median [interquartile range] over "
                  f"{cfg['repeats']} interleaved repeats; the ratios are medians of the per-repeat ratios "
                  f"(wall time, then CPU time). fit: Keras' default steps_per_execution=1; fit (spe): "
                  f"steps_per_execution={spe}, train()'s steps_per_call, the fair anchor; bare: a hand-written "
                  "loop with the same maths and no records, the practical limit.", "",
                  "| batch | method | clipper (train) | Keras argument (fit) | train() ms/step | fit ms/step | "
                  "fit (spe) ms/step | bare ms/step | train/fit | train/fit (spe) | train/bare |",
                  "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in derived["train_vs_fit"]:
            lines.append(f"| {row['batch_size']} | {row['method']} | `{_clipper_of(result, row['method'])}` | "
                         f"{_keras_of(result, row['method'])} | {_ms(row['train_ms'])} | {_ms(row['fit_ms'])} | "
                         f"{_ms(row.get('fit_spe_ms'))} | {_ms(row.get('bare_ms'))} | "
                         f"{_ratio_cpu(row['ratio'], row.get('cpu_ratio'))} | "
                         f"{_ratio_cpu(row.get('spe_ratio'), row.get('spe_cpu_ratio'))} | "
                         f"{_ratio_cpu(row.get('bare_ratio'), row.get('bare_cpu_ratio'))} |")
        lines += ["", f"{h2} 2. Cost of clipping", "",
                  "Step time with the clipper over step time without (method `none`) on the same path, "
                  "median [IQR] of the per-repeat ratios, as added time per step; then the same in CPU time.", "",
                  "| batch | method | train() | fit | train(), CPU time | fit, CPU time |",
                  "|---:|---|---:|---:|---:|---:|"]
        for row in derived["clipping_cost"]:
            no_fit = "no Keras equivalent"
            lines.append(f"| {row['batch_size']} | {row['method']} | {_ratio(row['train'], True)} | "
                         f"{_ratio(row['fit'], True) if row['fit'] else no_fit} | "
                         f"{_ratio(row.get('train_cpu'), True)} | "
                         f"{_ratio(row.get('fit_cpu'), True) if row['fit'] else no_fit} |")
        lines.append("")

    if result.get("notebooks"):
        lines += [f"{h2} 3. Notebooks (papermill, default parameters, one at a time)", "",
                  "| notebook | wall time (s) | kernel peak RSS (MB) | load before | result |",
                  "|---|---:|---:|---:|---|"]
        for nb in result["notebooks"]:
            status = "ok" if nb["returncode"] == 0 else ("timed out" if nb["timed_out"] else "failed")
            lines.append(f"| {nb['notebook']} | {nb['seconds']:.1f} | {nb['peak_rss_bytes'] / 1e6:.0f} | "
                         f"{nb['load_1min_before']:.2f} | {status} |")
        lines.append("")

    if steps:
        cfg = steps["config"]
        lines += [f"{h2} 4. Recording norms in `train()`", "",
                  f"`train()` with `clipper={cfg['norm_method']!r}`; `record_norms` adds the global norm after "
                  "clipping (the norm before clipping is always recorded), `record_layer_norms` every "
                  "variable's norm. Added time is against both off.", "",
                  "| batch | record_norms | record_layer_norms | ms/step | added time per step | added CPU time |",
                  "|---:|:---:|:---:|---:|---:|---:|"]
        for row in derived["norm_recording"]:
            off = row["variant"] == "norms_off"
            lines.append(f"| {row['batch_size']} | {row['record_norms']} | {row['record_layer_norms']} | "
                         f"{_ms(row['ms'])} | {'–' if off else _ratio(row['vs_norms_off'], True)} | "
                         f"{'–' if off else _ratio(row.get('cpu_vs_norms_off'), True)} |")
        lines.append("")

    if result.get("clippers"):
        rows, cfg = result["clippers"]["rows"], result["clippers"]["config"]
        steps_us = ", ".join(f"{rows[f'bare_step/{b}']['min_cpu_us']:.0f} µs at batch {b}" for b in cfg["batch_sizes"])
        wall_loop = rows["ours/none"]["min_us"]
        lines += [f"{h2} 5. Each clipper alone", "",
                  f"µs of CPU time per `clip` call on the seed MLP's gradients, minimum over {cfg['repeats']} "
                  f"interleaved repeats of a compiled loop of {cfg['iterations']} calls, the loop's own cost "
                  f"({rows['ours/none']['min_cpu_us']:.1f} µs) taken off; Keras' path is the optimizer's own "
                  f"`_clip_gradients` on the same gradients. A bare training step costs {steps_us}. The last "
                  "column is the same minimum in wall time.", "",
                  "| method | ours µs | Keras µs | ours/Keras | "
                  + " | ".join(f"share of a step, batch {b}" for b in cfg["batch_sizes"])
                  + " | / our global norm | ours µs, wall |",
                  "|---|---:|---:|---:|" + "---:|" * len(cfg["batch_sizes"]) + "---:|---:|"]
        for row in result.get("clipper_costs", []):
            keras_us = "–" if row["keras_us"] is None else f"{row['keras_us']:.1f}"
            ratio = "–" if row["ours_over_keras"] is None else f"{row['ours_over_keras']:.2f}"
            shares = " | ".join(f"{row[f'ours_share_{b}']:.0%}" for b in cfg["batch_sizes"])
            wall = rows[f"ours/{row['method']}"]["min_us"] - wall_loop
            over = "–" if row["over_global_norm"] is None else f"{row['over_global_norm']:.2f}"
            lines.append(f"| {row['method']} | {row['ours_us']:.1f} | {keras_us} | {ratio} | {shares} | "
                         f"{over} | {wall:.1f} |")
        lines.append("")

    calls = result.get("calls")
    if calls:
        lines += [f"{h2} 6. One call: cold, and the next one", "",
                  f"Seconds for one call of {calls['config']['steps']} steps (one epoch) with global-norm "
                  "clipping at 1.0, median [minimum] over "
                  f"{calls['config']['repeats']} interleaved repeats. Cold: a fresh model and optimizer, "
                  "compile included (`train()`, or `model.compile` + `model.fit`); next: the same model and "
                  "optimizer trained again.", "",
                  "| batch | path | cold call (s) | next call (s) | traces in the next call |",
                  "|---:|---|---:|---:|---:|"]
        for row in calls["cold"]:
            lines.append(f"| {row['batch_size']} | {row['path']} | {row['cold_s']['median']:.3f} "
                         f"[{row['cold_s']['min']:.3f}] | {row['second_s']['median']:.3f} "
                         f"[{row['second_s']['min']:.3f}] | {row.get('second_traces', '–')} |")
        lines += ["", f"{h2} 7. Changing the threshold of a live `Trainer`", "",
                  "Milliseconds, median [minimum] over "
                  f"{calls['config']['repeats']} changes: the change itself, and the change plus the next "
                  "`advance` less a plain `advance` of as many steps just before.", "",
                  "| change | batch | steps per advance | the change (ms) | change + next advance - plain (ms) |",
                  "|---|---:|---:|---:|---:|"]
        for row in calls["changes"]:
            lines.append(f"| {row['change']} | {row['batch_size']} | {row['advance_steps']} | "
                         f"{row['change_s']['median'] * 1e3:.1f} [{row['change_s']['min'] * 1e3:.1f}] | "
                         f"{row['with_next_advance_s']['median'] * 1e3:.1f} "
                         f"[{row['with_next_advance_s']['min'] * 1e3:.1f}] |")
        lines.append("")

    dash = result.get("dashboard")
    if dash:
        cfg = dash["config"]
        lines += [f"{h2} 8. Watching live: `gh.TrainingDashboard`", "",
                  f"{cfg['epochs']} epochs of the seed MLP, advanced {cfg['redraw_every']} steps at a time, "
                  f"with and without the dashboard's live redraws (budget max_overhead={cfg['max_overhead']}); "
                  f"minimum of {cfg['repeats']} repeats.", "",
                  "| training alone (s) | final figure (s) | with the dashboard (s) | redraws | overhead | "
                  "overhead, CPU time |",
                  "|---:|---:|---:|---:|---:|---:|",
                  f"| {dash['plain_s']:.2f} | {dash['figure_s']:.2f} | {dash['dashboard_s']:.2f} | "
                  f"{dash['redraws']} | {dash['overhead']:+.1%} | {dash['overhead_cpu']:+.1%} |", ""]

    lines += [f"{h2} How it was measured", ""]
    if steps:
        cfg = steps["config"]
        lines += [
            f"- Model `gh.seed_mlp({cfg['n_features']})` (128-64-1); data `gh.make_regression` with "
            f"{cfg['n_train']} training samples and standardised targets; SGD, learning rate "
            f"{cfg['learning_rate']}; MSE. Both paths shuffle every epoch.",
            "- Steady state, tracing excluded: per repeat, each configuration gets a fresh model, optimizer "
            f"and clipper and three calls: one of {cfg['short_epochs']} epoch(s) that compiles (not timed), "
            f"then, in random order, one of {cfg['short_epochs']} epoch(s) and one of {cfg['short_epochs']} + N "
            "epochs, which reuse the compiled function (checked: no `train()` call retraced). ms/step = "
            f"(t_long - t_short) / (N x steps per epoch), N chosen so that at least {cfg['extra_steps']} steps "
            "are timed. Per-epoch costs (a new iterator, results copied back) are included, amortised. CPU "
            "time: the same difference of `time.process_time()` (all threads of this process), less sensitive "
            "to other processes on the machine.",
            "- Repeats interleaved: the configurations of a repeat in one shuffled order, in one process, "
            "garbage collector paused inside each timed call.",
            f"- `train()` with its defaults (`record_norms=True`, `steps_per_call={spe}`, no progress bar); "
            "`fit` with `gh.make_optimizer` (the matching `clipvalue`/`clipnorm`/`global_clipnorm`), "
            f"`verbose=0`, steps_per_execution={_first(steps, 'steps_per_execution', path='fit')} "
            f"(fit) or {spe} (fit (spe)), jit_compile={_first(steps, 'jit_compile')} (Keras' `\"auto\"` on "
            "this machine). The bare loop: one `tf.function` per epoch, a stateless shuffle of the index, "
            "`tf.gather` per batch, `keras.losses.MeanSquaredError`, TensorFlow's `clip_by_value`/"
            "`clip_by_norm`/`clip_by_global_norm`, `optimizer.apply`; nothing recorded.",
            f"- Thresholds: {', '.join(f'{k} {v}' for k, v in steps['thresholds'].items())}; adaptive "
            "clippers with their own defaults (see the clipper column). Most traces in a timed `train()` call: "
            f"{max((r['max_traces'] for r in steps['rows'] if r['path'] == 'train'), default=0)}. No run diverged"
            + ("" if not any(r["diverged_runs"] for r in steps["rows"]) else " **except some: see the JSON**")
            + ".",
        ]
    if result.get("notebooks"):
        lines.append("- Notebooks: `python -m papermill` in a subprocess; wall time of the whole command "
                     "(kernel start included); memory: the kernel process tree polled every 50 ms with psutil "
                     "(summed RSS) and each kernel's own VmHWM, the larger reported.")
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    lines.append(f"- Raw samples: `{result['machine_slug']}.json` beside this file. Reproduce: `make bench` "
                 "(or `.venv/bin/python -m benchmarks`; `--quick` for a smoke test, `--skip-notebooks`, "
                 "`--out DIR`).")
    return "\n".join(lines) + "\n"


def _first(steps: dict, key: str, path: str | None = None):
    for row in steps["rows"]:
        if key in row and path in (None, row["path"]):
            return row[key]
    return "?"


def write_results(result: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{result['machine_slug']}.json"
    md_path = out_dir / f"{result['machine_slug']}.md"
    json_path.write_text(json.dumps(result, indent=1, default=_jsonable) + "\n")
    md_path.write_text(render_markdown(result))
    return json_path, md_path


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M")


__all__ = ["NORM_VARIANTS", "evaluate_targets", "machine_info", "machine_slug", "render_markdown",
           "write_results"]
