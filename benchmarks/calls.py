"""What one call costs a learner: a cold call on a fresh model, a second call, a threshold change.

- Cold call: a fresh model and optimizer, then one call that trains ``steps`` steps (one
  epoch), compile included: ``gh.train()`` against ``model.compile`` + ``model.fit`` (Keras'
  defaults, what a learner writes), both with global-norm clipping at the same threshold.
- Second call: the same model and optimizer trained again for ``steps`` steps (``fit``
  reuses its compiled function; ``train()`` may or may not, which is the point).
- Threshold change on a live ``Trainer``: the time of the change itself and of the next
  ``advance(steps)``, less a plain ``advance(steps)`` just before it (the extra time the
  change costs). ``set_clipper(same method, new threshold)`` for the fixed clippers; for an
  adaptive clipper the assignment ``trainer.clipper.threshold = x``; switching the method
  (a new compiled step, expected) for scale.

Timing: wall time of each call, every call ``repeats`` times (interleaved for the cold and
second calls); reported as the median and the minimum.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial

import keras
import numpy as np

import gradclip_helpers as gh

THRESHOLD = 1.0  # global-norm threshold of the cold and second calls


@dataclass(frozen=True)
class CallConfig:
    """What the per-call benchmark runs."""

    batch_sizes: tuple[int, ...] = (32, 256)
    steps: int = 32                 # steps per call (one epoch of steps * batch samples)
    n_features: int = 20
    learning_rate: float = 0.01
    repeats: int = 5
    # what is changed on a live Trainer: see _change()
    changes: tuple[str, ...] = ("global_norm threshold", "autoclip threshold", "method switch")
    seed: int = 0

    def with_(self, **changes) -> CallConfig:
        return replace(self, **changes)


FULL = CallConfig()
QUICK = CallConfig(repeats=1, steps=4)


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out
    finally:
        gc.enable()


def _data(config: CallConfig, samples: int) -> tuple[np.ndarray, np.ndarray]:
    data = gh.make_regression(n_samples=2 * samples, n_features=config.n_features, standardize_targets=True,
                              test_fraction=0.5, seed=config.seed)
    return data.x_train, data.y_train


def _model(config: CallConfig) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    return gh.seed_mlp(config.n_features, seed=config.seed)


def _cold_and_second(path: str, config: CallConfig, batch: int, xy) -> dict[str, float]:
    """Two calls of ``steps`` steps on one fresh model: the cold one (compile included) and the next one."""
    model, optimizer = _model(config), keras.optimizers.SGD(config.learning_rate)
    if path == "train":
        def call():
            return gh.train(model, xy, optimizer=optimizer, clipper="global_norm", threshold=THRESHOLD,
                            batch_size=batch, epochs=1, seed=config.seed, progress=False)
        cold, first = _timed(call)
        second, again = _timed(call)
        return {"cold_s": cold, "second_s": second, "steps": first.steps + again.steps,
                "second_traces": again.traces}
    clipped = keras.optimizers.SGD(config.learning_rate, global_clipnorm=THRESHOLD)

    def compile_and_fit():
        model.compile(optimizer=clipped, loss="mse")
        return model.fit(*xy, batch_size=batch, epochs=1, shuffle=True, verbose=0)

    cold, _ = _timed(compile_and_fit)
    second, _ = _timed(lambda: model.fit(*xy, batch_size=batch, epochs=1, shuffle=True, verbose=0))
    return {"cold_s": cold, "second_s": second, "steps": 2 * config.steps}


def run_cold_calls(config: CallConfig, log: Callable[[str], None] = print) -> list[dict[str, object]]:
    """Cold and second calls of train() and fit, ``repeats`` times each, interleaved."""
    rows = []
    rng = random.Random(config.seed)
    for batch in config.batch_sizes:
        xy = _data(config, config.steps * batch)
        samples: dict[str, list[dict]] = {"train": [], "fit": []}
        for _ in range(config.repeats):
            order = list(samples)
            rng.shuffle(order)
            for path in order:
                samples[path].append(_cold_and_second(path, config, batch, xy))
        for path, runs in samples.items():
            row: dict[str, object] = {"path": path, "batch_size": batch, "steps": config.steps}
            for key in ("cold_s", "second_s"):
                values = [r[key] for r in runs]
                row[key] = {"median": float(np.median(values)), "min": float(min(values)), "samples": values}
            if path == "train":
                row["second_traces"] = max(r["second_traces"] for r in runs)
            rows.append(row)
    log(f"cold and second calls: {len(rows)} rows")
    return rows


def _change(label: str, trainer: gh.Trainer) -> Callable[[], None]:
    """The change named ``label``, flipping between two settings on every call."""
    if label == "global_norm threshold":
        return lambda: trainer.set_clipper("global_norm", 0.5 if trainer.clipper.threshold == 1.0 else 1.0)
    if label == "autoclip threshold":
        def assign():
            trainer.clipper.threshold = 0.5 if trainer.clipper.threshold == 1.0 else 1.0
        return assign
    if label == "method switch":
        return lambda: trainer.set_clipper("norm" if trainer.clipper.method == "global_norm" else "global_norm", 1.0)
    raise ValueError(f"unknown change {label!r}")


def run_threshold_changes(config: CallConfig, log: Callable[[str], None] = print) -> list[dict[str, object]]:
    """For each change: its own time, and the extra time of the next ``advance`` over a plain one."""
    rows = []
    batch = config.batch_sizes[0]
    k = config.steps
    for label in config.changes:
        model = _model(config)
        clipper = gh.AutoClipClipper(1.0) if label.startswith("autoclip") else gh.make_clipper("global_norm", 1.0)
        # Enough data that no advance below reaches the end of an epoch.
        trainer = gh.Trainer(model, _data(config, (2 * config.repeats + 2) * k * batch),
                             optimizer=keras.optimizers.SGD(config.learning_rate), clipper=clipper,
                             batch_size=batch, seed=config.seed, steps_per_call=k)
        advance = partial(trainer.advance, k)
        advance()  # compile
        change = _change(label, trainer)
        change_s, extra_s = [], []
        for _ in range(config.repeats):
            plain, _ = _timed(advance)
            spent, _ = _timed(change)
            after, _ = _timed(advance)
            change_s.append(spent)
            extra_s.append(spent + after - plain)
        rows.append({"change": label, "batch_size": batch, "advance_steps": k,
                     "change_s": {"median": float(np.median(change_s)), "min": float(min(change_s)),
                                  "samples": change_s},
                     "with_next_advance_s": {"median": float(np.median(extra_s)), "min": float(min(extra_s)),
                                             "samples": extra_s}})
    log(f"threshold changes: {len(rows)} rows")
    return rows


def run_call_benchmark(config: CallConfig = FULL, log: Callable[[str], None] = print) -> dict[str, object]:
    started = time.time()
    return {"config": asdict(config), "cold": run_cold_calls(config, log),
            "changes": run_threshold_changes(config, log), "seconds": time.time() - started}
