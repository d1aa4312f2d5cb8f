"""Each clipper's own cost in isolation, against a bare training step and Keras' own clipping.

One compiled loop (a ``tf.while_loop`` of ``iterations`` inside one ``tf.function``) calls
``clipper.clip(grads, variables)`` on the seed MLP's gradients; each call's output is the next
call's input, so nothing can be pruned or hoisted out of the loop. The same loop with the
identity (``none``) is the loop's own cost and is subtracted, so what is left is what one
``clip`` costs. Keras' path is the optimizer's own ``_clip_gradients`` (what
``optimizer.apply`` runs for ``clipvalue``, ``clipnorm`` and ``global_clipnorm``) in the same
loop on the same gradients. The bare step is forward, backward and SGD apply on one fixed
batch, in the same kind of loop: the denominator that says how much of a step a clipper costs.

Timing: minimum over ``repeats`` interleaved calls of each compiled loop, after one call that
traces it, in this process's CPU time (``derive``'s default: steadier than wall time when other
processes share the cores) and in wall time.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
import tensorflow as tf

import gradclip_helpers as gh

from .steps import THRESHOLDS, make_benchmark_clipper, methods_to_run


@dataclass(frozen=True)
class ClipperConfig:
    """What the isolated clipper benchmark runs."""

    batch_sizes: tuple[int, ...] = (32, 256)   # for the bare step (the gradients' shapes do not depend on it)
    n_features: int = 20
    iterations: int = 2000                     # clip calls (or steps) per timed call
    repeats: int = 7
    methods: tuple[str, ...] | None = None     # None: every method in gh.CLIPPERS
    seed: int = 0

    def with_(self, **changes) -> ClipperConfig:
        return replace(self, **changes)


FULL = ClipperConfig()
QUICK = ClipperConfig(iterations=50, repeats=2)


def _clip_loop(clip: Callable[[list[tf.Tensor]], list[tf.Tensor]]) -> Callable[[list[tf.Tensor], tf.Tensor], list]:
    @tf.function
    def loop(grads, n):
        return tf.while_loop(lambda i, _: i < n, lambda i, g: (i + 1, clip(g)), (tf.constant(0), list(grads)))[1]
    return loop


def _step_loop(model: keras.Model, optimizer: keras.Optimizer, x: tf.Tensor, y: tf.Tensor) -> Callable:
    variables = model.trainable_variables
    loss_fn = keras.losses.MeanSquaredError()

    @tf.function
    def loop(n):
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply(tape.gradient(loss, variables), variables)
        return tf.constant(0)
    return loop


def make_loops(config: ClipperConfig) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """Every timed loop by name (``bare_step/<batch>``, ``ours/<method>``, ``keras/<method>``) and what each runs."""
    keras.utils.set_random_seed(config.seed)
    data = gh.make_regression(n_samples=2 * max(config.batch_sizes), n_features=config.n_features, seed=config.seed,
                              standardize_targets=True)
    model = gh.seed_mlp(config.n_features, seed=config.seed)
    variables = model.trainable_variables
    grads = gh.gradients(model, "mse", data.x_train[:32], data.y_train[:32])
    n = tf.constant(config.iterations)
    loops: dict[str, Callable[[], object]] = {}
    what: dict[str, str] = {}
    for batch in config.batch_sizes:
        step_model = gh.seed_mlp(config.n_features, seed=config.seed)
        step = _step_loop(step_model, keras.optimizers.SGD(0.01), tf.constant(data.x_train[:batch]),
                          tf.constant(data.y_train[:batch]))
        loops[f"bare_step/{batch}"] = lambda step=step: step(n)
        what[f"bare_step/{batch}"] = f"forward, backward, SGD apply; batch {batch}"
    for method in methods_to_run(config):
        clipper = make_benchmark_clipper(method)
        loop = _clip_loop(lambda g, c=clipper: c.clip(g, variables).grads)
        loops[f"ours/{method}"] = lambda loop=loop: loop(grads, n)
        what[f"ours/{method}"] = repr(clipper)
        if method in THRESHOLDS:
            kwargs = clipper.keras_kwargs()
            optimizer = keras.optimizers.SGD(0.01, **kwargs)
            keras_loop = _clip_loop(lambda g, o=optimizer: list(o._clip_gradients(g)))
            loops[f"keras/{method}"] = lambda loop=keras_loop: loop(grads, n)
            what[f"keras/{method}"] = "optimizer._clip_gradients, " + ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return loops, what


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    gc.collect()
    gc.disable()
    try:
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        gc.enable()


def run_clipper_benchmark(config: ClipperConfig = FULL, log: Callable[[str], None] = print) -> dict[str, object]:
    """Time every loop ``config.repeats`` times, interleaved; return µs per call (minimum and median)."""
    loops, what = make_loops(config)
    for fn in loops.values():
        fn()  # trace and run once
    samples: dict[str, dict[str, list[float]]] = {k: {"us": [], "cpu_us": []} for k in loops}
    rng = random.Random(config.seed)
    started = time.time()
    for _ in range(config.repeats):
        order = list(loops)
        rng.shuffle(order)
        for name in order:
            wall, cpu = _time(loops[name])
            samples[name]["us"].append(1e6 * wall / config.iterations)
            samples[name]["cpu_us"].append(1e6 * cpu / config.iterations)
    log(f"clipper loops: {len(loops)} x {config.repeats} repeats in {time.time() - started:.0f} s")
    rows = {name: {"what": what[name], "min_us": min(s["us"]), "median_us": float(np.median(s["us"])),
                   "min_cpu_us": min(s["cpu_us"]), "samples": s} for name, s in samples.items()}
    return {"config": {**asdict(config), "methods": methods_to_run(config)}, "rows": rows,
            "seconds": time.time() - started}


def derive(result: dict, key: str = "min_cpu_us") -> list[dict[str, object]]:
    """Per method: µs per clip (loop cost removed), as a share of each bare step, beside Keras' path.

    ``key`` is the statistic: ``"min_cpu_us"`` (CPU time) or ``"min_us"`` (wall time).
    """
    rows = result["rows"]
    loop_us = rows["ours/none"][key]
    out = []
    for method in result["config"]["methods"]:
        if method == "none":
            continue
        ours = rows[f"ours/{method}"][key] - loop_us
        keras_row = rows.get(f"keras/{method}")
        theirs = None if keras_row is None else keras_row[key] - loop_us
        entry: dict[str, object] = {"method": method, "clipper": rows[f"ours/{method}"]["what"],
                                    "ours_us": ours, "keras_us": theirs,
                                    "ours_over_keras": None if not theirs or theirs <= 0 else ours / theirs}
        for batch in result["config"]["batch_sizes"]:
            step = rows[f"bare_step/{batch}"][key]
            entry[f"ours_share_{batch}"] = ours / step
            entry[f"keras_share_{batch}"] = None if theirs is None else theirs / step
        out.append(entry)
    global_us = next((e["ours_us"] for e in out if e["method"] == "global_norm"), None)
    for entry in out:
        entry["over_global_norm"] = None if not global_us or global_us <= 0 else entry["ours_us"] / global_us
    return out
