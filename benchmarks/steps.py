"""Per-step time of ``gh.train()`` against ``model.fit``, for every registered clipper.

How a step is timed (steady state, tracing excluded). In each repeat every
configuration gets a fresh model, optimizer and clipper, and three calls of
``train()`` (or ``fit``, or the bare loop) on them: a first call of
``short_epochs`` that compiles (not timed), then, in random order, a timed call
of ``short_epochs`` and one of ``short_epochs + extra_epochs``. The later calls
reuse the first call's compiled function (``train()`` caches it on the model;
``fit`` keeps its ``train_function``; the bare loop is one function), which the
benchmark checks (``max_traces`` is 0 for ``train()``). The per-step time is
``(t_long - t_short) / (extra_epochs * steps_per_epoch)``: the per-call costs
cancel, and what is left is what every further step costs, per-epoch overheads
included. Configurations run in a shuffled order in every repeat (interleaved),
the statistics are over repeats, and the garbage collector is paused inside each
timed call (as ``timeit`` does).

``train()`` runs with its defaults (``record_norms=True``, no layer norms, no
progress bar); ``fit`` gets the same SGD with the matching Keras argument
(``gh.make_optimizer``), ``loss="mse"``, ``verbose=0``, Keras' default
``steps_per_execution=1`` and ``jit_compile="auto"``. Both shuffle every epoch.

Two more paths set the scale: ``fit_spe`` is ``fit`` with ``steps_per_execution``
equal to ``train()``'s ``steps_per_call`` (what a careful Keras user sets: the
fair anchor), and ``bare`` is a hand-written loop with nothing but the maths (one
``tf.function`` per epoch: shuffled index, ``tf.gather`` per batch, forward, MSE,
gradient, TensorFlow's own clip op, SGD apply; no records): the practical limit.
"""

from __future__ import annotations

import gc
import inspect
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
import tensorflow as tf

import gradclip_helpers as gh

# Fixed thresholds for the built-in methods, chosen for the benchmark data (standardised
# targets, SGD 0.01): the global norm sits around 1 to 2, so each one clips a good share of
# the steps. Any other registered method (the adaptive clippers) runs with its own defaults.
THRESHOLDS = {"value": 0.05, "norm": 0.5, "global_norm": 1.0}

# train()'s steps per compiled call; fit_spe runs fit with the same steps_per_execution.
STEPS_PER_CALL: int = inspect.signature(gh.Trainer).parameters["steps_per_call"].default

# The bare loop's clipping: TensorFlow's own ops, nothing else.
BARE_CLIPS: dict[str, Callable[[list, float], list]] = {
    "none": lambda grads, c: grads,
    "value": lambda grads, c: [tf.clip_by_value(g, -c, c) for g in grads],
    "norm": lambda grads, c: [tf.clip_by_norm(g, c) for g in grads],
    "global_norm": lambda grads, c: tf.clip_by_global_norm(grads, c)[0],
}

# train()'s recording options, measured with global-norm clipping (part 4 of the benchmark).
NORM_VARIANTS: dict[str, dict[str, bool]] = {
    "norms_off": {"record_norms": False, "record_layer_norms": False},
    "default": {"record_norms": True, "record_layer_norms": False},
    "layer_norms": {"record_norms": True, "record_layer_norms": True},
}


@dataclass(frozen=True)
class StepConfig:
    """What the step-time benchmark runs."""

    batch_sizes: tuple[int, ...] = (32, 256)
    n_train: int = 8192          # training samples (gh.make_regression, standardised targets)
    n_features: int = 20         # gh.seed_mlp(20): 128-64-1, 11,009 parameters
    learning_rate: float = 0.01  # plain SGD
    repeats: int = 7
    short_epochs: int = 1
    extra_steps: int = 2048      # each measurement times at least this many steady-state steps
    methods: tuple[str, ...] | None = None  # None: every method in gh.CLIPPERS at run time
    norm_method: str = "global_norm"        # the clipper used for the norm-recording variants
    norm_variants: tuple[str, ...] = tuple(NORM_VARIANTS)  # which of them ("default" is part 1's run)
    fit_spe: bool = True         # also fit with steps_per_execution = train()'s steps_per_call
    bare: bool = True            # also the hand-written loop (methods in BARE_CLIPS)
    seed: int = 0

    def with_(self, **changes) -> StepConfig:
        return replace(self, **changes)


FULL = StepConfig()
QUICK = StepConfig(n_train=2048, repeats=2, extra_steps=256)


@dataclass(frozen=True)
class Job:
    """One configuration: the path (train or fit), the method, the recording variant, the batch."""

    path: str      # "train", "fit", "fit_spe" (steps_per_execution matched) or "bare"
    method: str
    variant: str   # "default", or a NORM_VARIANTS key for train()
    batch_size: int

    @property
    def key(self) -> str:
        return f"{self.path}/{self.method}/{self.variant}/{self.batch_size}"


def methods_to_run(config: StepConfig) -> list[str]:
    """Every registered method (``gh.CLIPPERS`` at run time), ``none`` first, or the configured ones."""
    names = list(config.methods) if config.methods is not None else list(gh.CLIPPERS)
    unknown = [m for m in names if m not in gh.CLIPPERS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; registered: {sorted(gh.CLIPPERS)}")
    return sorted(set(names), key=lambda m: (m != "none", list(gh.CLIPPERS).index(m)))


def make_benchmark_clipper(method: str) -> gh.Clipper:
    """A fresh clipper for ``method``: a fixed threshold for the built-ins, else its own defaults."""
    if method == "none":
        return gh.make_clipper("none")
    if method in THRESHOLDS:
        return gh.make_clipper(method, THRESHOLDS[method])
    try:
        return gh.make_clipper(method)
    except (TypeError, ValueError):  # a future clipper without a default threshold
        return gh.make_clipper(method, 1.0)


def keras_equivalent(method: str) -> dict[str, float] | None:
    """The Keras optimizer argument with the same effect, or None where there is none."""
    try:
        return make_benchmark_clipper(method).keras_kwargs()
    except ValueError:
        return None


def make_jobs(config: StepConfig) -> list[Job]:
    """train() for every method, fit (twice) where Keras has an equivalent, the bare loop, the recording variants."""
    methods = methods_to_run(config)
    jobs = []
    for batch in config.batch_sizes:
        for method in methods:
            jobs.append(Job("train", method, "default", batch))
            if keras_equivalent(method) is not None:
                jobs.append(Job("fit", method, "default", batch))
                if config.fit_spe:
                    jobs.append(Job("fit_spe", method, "default", batch))
            if config.bare and method in BARE_CLIPS:
                jobs.append(Job("bare", method, "default", batch))
        if config.norm_method in methods:
            for variant in config.norm_variants:
                if variant != "default":
                    jobs.append(Job("train", config.norm_method, variant, batch))
    return jobs


def make_data(config: StepConfig) -> tuple[np.ndarray, np.ndarray]:
    data = gh.make_regression(n_samples=2 * config.n_train, n_features=config.n_features,
                              standardize_targets=True, test_fraction=0.5, seed=config.seed)
    return data.x_train, data.y_train


def steps_per_epoch(config: StepConfig, batch_size: int) -> int:
    return math.ceil(config.n_train / batch_size)


def extra_epochs(config: StepConfig, batch_size: int) -> int:
    return max(1, math.ceil(config.extra_steps / steps_per_epoch(config, batch_size)))


def _timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall time, this process's CPU time (all threads), and the result of ``fn()``."""
    gc.collect()
    gc.disable()
    try:
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        return time.perf_counter() - start, time.process_time() - cpu, out
    finally:
        gc.enable()


def make_caller(job: Job, data, config: StepConfig) -> Callable[[int], dict[str, object]]:
    """A fresh model, optimizer and clipper for ``job``, and a function that trains them ``epochs`` epochs, timed."""
    x, y = data
    keras.utils.set_random_seed(config.seed)
    model = gh.seed_mlp(x.shape[1], seed=config.seed)
    clipper = make_benchmark_clipper(job.method)
    if job.path == "train":
        optimizer = keras.optimizers.SGD(config.learning_rate)

        def call(epochs: int) -> dict[str, object]:
            seconds, cpu, history = _timed(lambda: gh.train(
                model, (x, y), optimizer=optimizer, clipper=clipper, epochs=epochs,
                batch_size=job.batch_size, shuffle=True, seed=config.seed, progress=False,
                **NORM_VARIANTS[job.variant]))
            return {"seconds": seconds, "cpu_seconds": cpu, "final_loss": history.final_loss,
                    "diverged": history.diverged, "traces": history.traces}
        return call
    if job.path in ("fit", "fit_spe"):
        model.compile(optimizer=gh.make_optimizer("sgd", config.learning_rate, clipper), loss="mse",
                      steps_per_execution=STEPS_PER_CALL if job.path == "fit_spe" else 1)

        def call(epochs: int) -> dict[str, object]:
            seconds, cpu, history = _timed(lambda: model.fit(
                x, y, batch_size=job.batch_size, epochs=epochs, shuffle=True, verbose=0))
            final = float(history.history["loss"][-1])
            return {"seconds": seconds, "cpu_seconds": cpu, "final_loss": final, "diverged": not math.isfinite(final),
                    "jit_compile": bool(model.jit_compile), "steps_per_execution": int(model.steps_per_execution)}
        return call
    if job.path == "bare":
        epoch = bare_epoch(model, keras.optimizers.SGD(config.learning_rate), job.method,
                           THRESHOLDS.get(job.method, 0.0), job.batch_size, len(x), config.seed)
        xs, ys = tf.constant(x), tf.constant(y)

        def call(epochs: int) -> dict[str, object]:
            seconds, cpu, losses = _timed(lambda: [float(epoch(xs, ys, tf.constant(e))) for e in range(epochs)])
            return {"seconds": seconds, "cpu_seconds": cpu, "final_loss": losses[-1],
                    "diverged": not math.isfinite(losses[-1])}
        return call
    raise ValueError(f"unknown path {job.path!r}")


def bare_epoch(model: keras.Model, optimizer: keras.Optimizer, method: str, threshold: float, batch_size: int,
               n: int, seed: int) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """One epoch of plain SGD with ``BARE_CLIPS[method]``, compiled; returns the last batch's loss."""
    variables = model.trainable_variables
    loss_fn = keras.losses.MeanSquaredError()
    clip = BARE_CLIPS[method]
    steps = math.ceil(n / batch_size)

    @tf.function
    def epoch(x, y, index):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed, index]))
        loss = tf.constant(0.0)
        for step in tf.range(steps):
            batch = order[step * batch_size:tf.minimum((step + 1) * batch_size, n)]
            with tf.GradientTape() as tape:
                loss = loss_fn(tf.gather(y, batch), model(tf.gather(x, batch), training=True))
            optimizer.apply(clip(tape.gradient(loss, variables), threshold), variables)
        return loss

    return epoch


def _stats(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3),
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def run_step_benchmark(config: StepConfig = FULL, log: Callable[[str], None] = print) -> dict[str, object]:
    """Run every job ``config.repeats`` times, interleaved; return per-job samples and statistics."""
    data = make_data(config)
    jobs = make_jobs(config)
    rng = random.Random(config.seed)
    short = config.short_epochs
    longs = {b: short + extra_epochs(config, b) for b in config.batch_sizes}
    samples: dict[str, dict[str, list]] = {
        j.key: {"short": [], "long": [], "per_step_ms": [], "cpu_per_step_ms": []} for j in jobs}
    checks: dict[str, dict[str, object]] = {j.key: {"diverged_runs": 0, "max_traces": 0} for j in jobs}
    loads = []
    started = time.time()
    for r in range(config.repeats):
        loads.append(os.getloadavg()[0])
        order = list(jobs)
        rng.shuffle(order)
        for job in order:
            call = make_caller(job, data, config)
            call(short)  # compiles; not timed
            lengths = ["short", "long"]
            rng.shuffle(lengths)
            times: dict[str, tuple[float, float]] = {}
            for length in lengths:
                out = call(short if length == "short" else longs[job.batch_size])
                times[length] = out["seconds"], out["cpu_seconds"]
                check = checks[job.key]
                check["diverged_runs"] += int(out["diverged"])
                check["max_traces"] = max(check["max_traces"], int(out.get("traces", 0)))
                check["final_loss"] = out["final_loss"]
                for k in ("jit_compile", "steps_per_execution"):
                    if k in out:
                        check[k] = out[k]
            s = samples[job.key]
            (t_short, c_short), (t_long, c_long) = times["short"], times["long"]
            steady = (longs[job.batch_size] - short) * steps_per_epoch(config, job.batch_size)
            s["short"].append(t_short)
            s["long"].append(t_long)
            s["per_step_ms"].append(1e3 * (t_long - t_short) / steady)
            s["cpu_per_step_ms"].append(1e3 * (c_long - c_short) / steady)
        log(f"repeat {r + 1}/{config.repeats} done ({time.time() - started:.0f} s, load {loads[-1]:.2f})")
    loads.append(os.getloadavg()[0])

    rows = []
    for job in jobs:
        clipper = make_benchmark_clipper(job.method)
        rows.append({
            **asdict(job), "key": job.key,
            "clipper": repr(clipper),
            "keras_kwargs": keras_equivalent(job.method) if job.path in ("fit", "fit_spe") else None,
            "steps_per_epoch": steps_per_epoch(config, job.batch_size),
            "short_epochs": short, "long_epochs": longs[job.batch_size],
            "per_step_ms": _stats(samples[job.key]["per_step_ms"]),
            "cpu_per_step_ms": _stats(samples[job.key]["cpu_per_step_ms"]),
            "samples": samples[job.key],
            **checks[job.key],
        })
    return {
        "config": {**asdict(config), "methods": methods_to_run(config)},
        "thresholds": dict(THRESHOLDS),
        "norm_variants": NORM_VARIANTS,
        "load_1min_per_repeat": loads,
        "seconds": time.time() - started,
        "rows": rows,
    }


# --------------------------------------------------------------------------
# Derived numbers: paired per repeat, so a slow moment hits both sides of a ratio.


def _row(result: dict, path: str, method: str, batch: int, variant: str = "default") -> dict | None:
    for row in result["rows"]:
        if (row["path"], row["method"], row["batch_size"], row["variant"]) == (path, method, batch, variant):
            return row
    return None


def _paired_ratio(num: dict | None, den: dict | None, key: str = "per_step_ms") -> dict[str, float] | None:
    if num is None or den is None:
        return None
    a = np.asarray(num["samples"][key], dtype=float)
    b = np.asarray(den["samples"][key], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = a / b
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return None
    out = _stats(ratios)
    # The ratio of the medians, less sensitive to one repeat's small denominator.
    out["of_medians"] = float(np.median(a) / np.median(b)) if np.median(b) else float("nan")
    return out


def derive(result: dict) -> dict[str, list[dict]]:
    """Ratios train/fit, clipped/unclipped for both paths, and the cost of recording norms."""
    config = result["config"]
    methods = config["methods"]
    train_vs_fit, clipping, recording = [], [], []
    for batch in config["batch_sizes"]:
        for method in methods:
            t, f = _row(result, "train", method, batch), _row(result, "fit", method, batch)
            f_spe, bare = _row(result, "fit_spe", method, batch), _row(result, "bare", method, batch)
            train_vs_fit.append({"batch_size": batch, "method": method,
                                 "train_ms": t and t["per_step_ms"], "fit_ms": f and f["per_step_ms"],
                                 "fit_spe_ms": f_spe and f_spe["per_step_ms"], "bare_ms": bare and bare["per_step_ms"],
                                 "ratio": _paired_ratio(t, f),
                                 "cpu_ratio": _paired_ratio(t, f, "cpu_per_step_ms"),
                                 "spe_ratio": _paired_ratio(t, f_spe),
                                 "spe_cpu_ratio": _paired_ratio(t, f_spe, "cpu_per_step_ms"),
                                 "bare_ratio": _paired_ratio(t, bare),
                                 "bare_cpu_ratio": _paired_ratio(t, bare, "cpu_per_step_ms")})
            if method != "none":
                clipping.append({
                    "batch_size": batch, "method": method,
                    "train": _paired_ratio(t, _row(result, "train", "none", batch)),
                    "fit": _paired_ratio(f, _row(result, "fit", "none", batch)),
                    "train_cpu": _paired_ratio(t, _row(result, "train", "none", batch), "cpu_per_step_ms"),
                    "fit_cpu": _paired_ratio(f, _row(result, "fit", "none", batch), "cpu_per_step_ms"),
                })
        base = _row(result, "train", config["norm_method"], batch, "norms_off")
        for variant in NORM_VARIANTS:
            row = _row(result, "train", config["norm_method"], batch, variant)
            if row is not None:
                recording.append({"batch_size": batch, "method": config["norm_method"], "variant": variant,
                                  **NORM_VARIANTS[variant], "ms": row["per_step_ms"],
                                  "vs_norms_off": _paired_ratio(row, base),
                                  "cpu_vs_norms_off": _paired_ratio(row, base, "cpu_per_step_ms")})
    return {"train_vs_fit": train_vs_fit, "clipping_cost": clipping, "norm_recording": recording}
