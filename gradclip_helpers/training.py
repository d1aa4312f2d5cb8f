"""Training with clipping: ``train()`` and its ``History``, and the Keras ``fit`` path.

``train()`` is one custom loop for every notebook: a ``tf.function`` that runs
many steps per call, records the loss and the global gradient norm before and
after clipping at every step, and handles non-finite values by a named policy.
``ClippingModel`` puts any clipper into ``model.fit`` through a ``train_step``
override written with today's Keras 3 API (``compute_loss``; the seed
article's ``compiled_loss`` is deprecated). Nothing here plots.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .clipping import Clipper, global_norm, make_clipper

NONFINITE_POLICIES = ("stop", "skip", "raise")


@dataclass
class History:
    """Everything ``train()`` recorded, as numpy arrays.

    Per step (one entry per optimizer step attempted):
      loss, grad_norm (global norm before clipping), clipped_norm (after),
      clipped (clipping changed the gradient), applied (the update was applied),
      layer_norms (steps x variables, before clipping; only when asked).
    Per epoch: ``epochs["loss"]``, ``epochs["val_loss"]`` and one entry per metric.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    clipped_norm: np.ndarray
    clipped: np.ndarray
    applied: np.ndarray
    layer_norms: np.ndarray | None
    variable_names: list[str]
    epochs: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = "none"
    threshold: float | None = None
    interrupted: bool = False
    traces: int = 0  # how often the compiled step was traced (1 = no retracing)

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def diverged_at(self) -> int | None:
        """Index of the first step whose loss or gradient norm was not finite, else None."""
        bad = ~(np.isfinite(self.loss) & np.isfinite(self.grad_norm))
        return int(np.argmax(bad)) if bad.any() else None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def clip_fraction(self) -> float:
        """Share of steps on which clipping changed the gradient."""
        return float(np.mean(self.clipped)) if self.steps else 0.0

    @property
    def skipped_steps(self) -> int:
        """Number of updates not applied because they were not finite."""
        return int(np.sum(~self.applied))

    @property
    def final_loss(self) -> float:
        """Training loss of the last epoch (mean over its steps); NaN if it diverged."""
        losses = self.epochs.get("loss", np.array([]))
        return float(losses[-1]) if len(losses) else float("nan")

    def relative_loss(self, variance: float) -> float:
        """Final training loss over ``variance`` (for MSE and Var(y): 1.0 is predicting the mean)."""
        return self.final_loss / variance

    def to_dict(self) -> dict[str, object]:
        """A plain dict of lists and numbers (JSON-friendly)."""
        out: dict[str, object] = {
            name: getattr(self, name).tolist()
            for name in ("loss", "grad_norm", "clipped_norm", "clipped", "applied")
        }
        out["layer_norms"] = None if self.layer_norms is None else self.layer_norms.tolist()
        out["variable_names"] = list(self.variable_names)
        out["epochs"] = {k: v.tolist() for k, v in self.epochs.items()}
        out.update(method=self.method, threshold=self.threshold, interrupted=self.interrupted,
                   diverged_at=self.diverged_at, traces=self.traces)
        return out


def _as_dataset(data, batch_size: int, shuffle: bool, seed: int, name: str) -> tuple[tf.data.Dataset, int | None]:
    """Turn ``(x, y)`` arrays or a batched Dataset into batches; also return the sample count."""
    if isinstance(data, tf.data.Dataset):
        cardinality = int(data.cardinality())
        if cardinality == 0:
            raise ValueError(f"{name} is an empty Dataset")
        return data, None
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be (x, y) arrays or a batched tf.data.Dataset, got {type(data).__name__}")
    x, y = (np.asarray(a, dtype=np.float32) for a in data)
    if len(x) == 0:
        raise ValueError(f"{name} is empty: x has 0 samples")
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}")
    if y.ndim == 1:
        y = y[:, None]
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size), len(x)


def _loss_scale(optimizer) -> tf.Tensor | None:
    """The factor the loss is multiplied by before differentiation, if any."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return None


def unscale_gradients(optimizer, grads: Sequence) -> list:
    """Divide gradients of a loss-scaled objective by the scale, so clipping sees true values.

    Clipping scaled gradients (the common mixed-precision bug) compares a
    threshold with gradients 32768 times too large.
    """
    scale = _loss_scale(optimizer)
    if scale is None:
        return list(grads)
    return [None if g is None else g / tf.cast(scale, g.dtype) for g in grads]


def _rescale_gradients(optimizer, grads: Sequence) -> list:
    # LossScaleOptimizer.apply divides by its scale (a power of two, so this is exact).
    scale = _loss_scale(optimizer)
    if scale is None:
        return list(grads)
    return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]


def _metric_fns(metrics: Sequence[str | Callable]) -> dict[str, Callable]:
    """Stateless per-example functions ``fn(y_true, y_pred)`` by name.

    Keras ``Metric`` objects keep a running mean across calls, which would mix
    batches and epochs; ``train()`` averages per epoch itself, so it takes
    plain functions (``"mae"`` resolves to ``keras.losses.mean_absolute_error``).
    """
    fns = {}
    for m in metrics:
        fn = m
        if isinstance(m, str):
            try:
                fn = keras.losses.get(m)
            except ValueError:
                fn = keras.metrics.get(m)
        if isinstance(fn, keras.metrics.Metric) or not callable(fn):
            raise ValueError(
                f"metric {m!r} must be a function fn(y_true, y_pred) or the name of one "
                "(e.g. 'mae'), not a stateful keras.metrics.Metric"
            )
        fns[m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__)] = fn
    return fns


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _loss_sum(fn: Callable, y, y_pred) -> tf.Tensor:
    """Sum over the batch of a per-example loss (or mean-reduced loss times the batch size)."""
    values = tf.cast(fn(y, y_pred), tf.float32)
    if values.shape.rank:
        return tf.reduce_sum(values)
    return values * tf.cast(tf.shape(y_pred)[0], tf.float32)


def _add(a: list, b: list) -> list:
    return [None if x is None else x + y for x, y in zip(a, b)]


def _make_step(model, optimizer, variables, loss_fn, metric_fns, clipper, *, accumulation_steps,
               nonfinite, record_norms, record_layer_norms):
    """The per-replica training step: gradients, all-reduce, records, clip, apply.

    Returns records ``(loss, norm, clipped_norm, clipped, applied, layer_norms,
    metrics, finite_per_variable, stop)``, identical on every replica.
    """
    is_loss_scaled = _loss_scale(optimizer) is not None

    def shares(x, y, denominator):
        # This (micro-)batch's share of the full-batch mean loss, and its gradient.
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss_share = _loss_sum(loss_fn, y, y_pred) / denominator
            objective = optimizer.scale_loss(loss_share) if is_loss_scaled else loss_share
        grads = unscale_gradients(optimizer, tape.gradient(objective, variables))
        metric_shares = [_loss_sum(fn, y, y_pred) / denominator for fn in metric_fns]
        return loss_share, grads, metric_shares

    def step(x, y):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        reduce = context.all_reduce if replicas > 1 else (lambda _op, value: value)
        denominator = reduce("sum", tf.cast(tf.shape(x)[0], tf.float32))
        size = (tf.shape(x)[0] + accumulation_steps - 1) // accumulation_steps
        loss_share, grads, metric_shares = shares(x[:size], y[:size], denominator)
        for k in range(1, accumulation_steps):
            more = shares(x[k * size:(k + 1) * size], y[k * size:(k + 1) * size], denominator)
            loss_share, grads = loss_share + more[0], _add(grads, more[1])
            metric_shares = [a + b for a, b in zip(metric_shares, more[2])]
        # Clip after the all-reduce: every replica holds the same full-batch gradient.
        loss_value = reduce("sum", loss_share)
        present = [i for i, g in enumerate(grads) if g is not None]
        reduced = reduce("sum", [grads[i] for i in present]) if present else []
        grads = list(grads)
        for i, g in zip(present, reduced):
            grads[i] = g
        metric_values = tf.stack(reduce("sum", metric_shares)) if metric_shares else tf.zeros([0])

        norm = global_norm(grads)
        finite_loss = tf.math.is_finite(loss_value)
        finite = tf.logical_and(finite_loss, tf.math.is_finite(norm))
        result = clipper.clip(grads, variables, norm=norm)
        # A LossScaleOptimizer skips non-finite gradients and lowers its scale by itself.
        apply = finite_loss if is_loss_scaled else finite

        # Keras sums the replicas' gradients again inside apply(); each holds the full sum.
        update = _rescale_gradients(optimizer, [None if g is None else g / replicas for g in result.grads])

        def apply_update(grads=update):
            optimizer.apply(grads, variables)
            return tf.constant(True)

        if replicas > 1 and not tf.__internal__.distribute.strategy_supports_no_merge_call():
            # A cond whose branch synchronises replicas must run in cross-replica
            # context (as in Keras' LossScaleOptimizer).
            def cross_replica(distribution, flag, grads):
                def call():
                    distribution.extended.call_for_each_replica(apply_update, args=(grads,))
                    return tf.constant(True)

                flag = distribution.experimental_local_results(flag)[0]
                tf.cond(flag, call, lambda: tf.constant(False))

            context.merge_call(cross_replica, args=(apply, update))
        else:
            tf.cond(apply, apply_update, lambda: tf.constant(False))
        after = global_norm(result.grads) if record_norms else tf.constant(float("nan"))
        per_var = tf.stack([global_norm([g]) for g in grads]) if record_layer_norms else tf.zeros([0])
        var_finite = tf.stack([
            tf.constant(True) if g is None else tf.math.is_finite(global_norm([g])) for g in grads
        ]) if nonfinite == "raise" else tf.zeros([0], tf.bool)
        stop = tf.logical_and(tf.constant(nonfinite in ("stop", "raise")),
                              tf.logical_not(finite_loss if is_loss_scaled else finite))
        return [loss_value, norm, after, result.clipped, apply, per_var, metric_values, var_finite, stop]

    return step


class _SummaryLogger:
    """Writes the records of ``train(..., log_dir=...)`` as TensorBoard summaries."""

    def __init__(self, log_dir: str, variable_names: list[str]):
        try:
            os.makedirs(log_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=log_dir):
                pass
        except OSError as exc:
            raise ValueError(f"log_dir {str(log_dir)!r} cannot be written: {exc}") from None
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.variable_names = variable_names

    def steps(self, first_step: int, rows: list[np.ndarray]) -> None:
        loss, before, after, clipped, _applied, layer_norms = rows[:6]
        with self.writer.as_default():
            for i in range(len(loss)):
                step = first_step + i
                tf.summary.scalar("loss", loss[i], step=step)
                tf.summary.scalar("grad_norm/before_clipping", before[i], step=step)
                tf.summary.scalar("grad_norm/after_clipping", after[i], step=step)
                tf.summary.scalar("grad_norm/clipped", float(clipped[i]), step=step)
                tf.summary.histogram("grad_norm/per_variable", layer_norms[i], step=step)
        self.writer.flush()

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        with self.writer.as_default():
            for name, value in logs.items():
                tf.summary.scalar(f"epoch/{name}", value, step=epoch)
        self.writer.flush()


class Trainer:
    """A training run that advances a few steps at a time; ``train()`` runs one to the end.

    Holds the model, optimizer, data pipeline and every record so far. The
    compiled step is built once per clipper: ``set_clipper`` swaps the clipper
    between steps (one new trace), which is what the live dashboard does.
    Arguments are those of ``train()``.

    >>> from gradclip_helpers import make_regression, seed_mlp
    >>> data = make_regression(n_samples=64, seed=0)
    >>> t = Trainer(seed_mlp(20, seed=0), (data.x_train, data.y_train),
    ...             optimizer=keras.optimizers.SGD(0.01), clipper="global_norm", threshold=5.0)
    >>> t.advance(5), t.steps, t.epochs_done  # an epoch is one batch here
    (1, 1, 1)
    """

    def __init__(self, model: keras.Model, data, *, optimizer: keras.optimizers.Optimizer,
                 loss: str | Callable = "mse", clipper: Clipper | str | None = None,
                 threshold: float | None = None, batch_size: int = 32, validation_data=None,
                 metrics: Sequence[str | Callable] = (), shuffle: bool = True, seed: int = 0,
                 nonfinite: str = "stop", record_norms: bool = True, record_layer_norms: bool = False,
                 steps_per_call: int = 100, accumulation_steps: int = 1,
                 strategy: tf.distribute.Strategy | None = None, log_dir: str | None = None):
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
        batch_size = _check_positive_int("batch_size", batch_size)
        self.steps_per_call = _check_positive_int("steps_per_call", steps_per_call)
        self.accumulation_steps = _check_positive_int("accumulation_steps", accumulation_steps)
        self.model, self.optimizer, self.nonfinite = model, optimizer, nonfinite
        self.record_norms = record_norms
        self.record_layer_norms = record_layer_norms or log_dir is not None
        dataset, n_samples = _as_dataset(data, batch_size, shuffle, seed, "data")
        if n_samples:
            self.steps_per_epoch = math.ceil(n_samples / batch_size)
        else:  # a batched Dataset: its length in batches, when TensorFlow knows it
            cardinality = int(data.cardinality())
            self.steps_per_epoch = cardinality if cardinality > 0 else None
        self._val_dataset = None
        if validation_data is not None:
            self._val_dataset, _ = _as_dataset(validation_data, max(batch_size, 256), False, seed, "validation_data")
        self._loss_fn = keras.losses.get(loss)
        self._metric_fns = _metric_fns(metrics)
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise ValueError("the model has no trainable variables; build it first (e.g. with keras.Input)")
        first = getattr(self.variables[0], "value", self.variables[0])
        if strategy is not None and not strategy.extended.variable_created_in_scope(first):
            raise ValueError("with a strategy, build the model and optimizer inside strategy.scope()")
        self.strategy = strategy or tf.distribute.get_strategy()
        if self.strategy.num_replicas_in_sync > 1:
            dataset = self.strategy.experimental_distribute_dataset(dataset)
        self._dataset = dataset
        if not optimizer.built:
            with self.strategy.scope():
                optimizer.build(self.variables)
        self.variable_names = [getattr(v, "path", v.name) for v in self.variables]
        self._logger = _SummaryLogger(log_dir, self.variable_names) if log_dir is not None else None

        self._records: list[list[np.ndarray]] = []
        self._epoch_logs: dict[str, list[float]] = {"loss": [], **{n: [] for n in self._metric_fns}}
        if self._val_dataset is not None:
            self._epoch_logs.update({"val_loss": [], **{f"val_{n}": [] for n in self._metric_fns}})
        self._iterator = None
        self._epoch_start = 0
        self._traces_before = 0
        self._run = None
        self.epochs_done = 0
        self.stopped = False
        self.interrupted = False
        self._evaluate = self._make_evaluate()
        self.set_clipper(clipper, threshold)

    # -- building ---------------------------------------------------------

    def set_clipper(self, clipper: Clipper | str | None, threshold: float | None = None) -> None:
        """Use another clipper from the next step on (invalid input raises and changes nothing)."""
        clipper = make_clipper(clipper, threshold)
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if clipper.method != "none" and any(getattr(inner, a, None) for a in ("clipnorm", "clipvalue", "global_clipnorm")):
            raise ValueError(
                "the optimizer clips by itself (clipnorm/clipvalue/global_clipnorm is set) "
                f"and clipper={clipper.method!r} would clip again; use one of the two"
            )
        step = _make_step(self.model, self.optimizer, self.variables, self._loss_fn,
                          list(self._metric_fns.values()), clipper, accumulation_steps=self.accumulation_steps,
                          nonfinite=self.nonfinite, record_norms=self.record_norms,
                          record_layer_norms=self.record_layer_norms)
        strategy = self.strategy

        @tf.function
        def run(iterator, max_steps):
            spec = [tf.float32, tf.float32, tf.float32, tf.bool, tf.bool, tf.float32, tf.float32, tf.bool]
            arrays = [tf.TensorArray(d, size=0, dynamic_size=True) for d in spec]
            i = tf.constant(0)
            stopped = tf.constant(False)
            exhausted = tf.constant(False)
            while i < max_steps and not stopped and not exhausted:
                optional = iterator.get_next_as_optional()
                if optional.has_value():
                    x, y = optional.get_value()
                    records = [strategy.experimental_local_results(r)[0] for r in strategy.run(step, args=(x, y))]
                    stopped = records.pop()
                    arrays = [a.write(i, r) for a, r in zip(arrays, records)]
                    i += 1
                else:
                    exhausted = True
            return [a.stack() for a in arrays], i, stopped, exhausted

        # TensorFlow counts traces by source line across instances and would warn
        # about "frequent retracing" after a few runs in one notebook; each
        # function here is traced once (tested), so the warning would be wrong.
        run._omit_frequent_tracing_warning = True
        if self._run is not None:
            self._traces_before += self._run.experimental_get_tracing_count()
        self._run, self.clipper = run, clipper

    def _make_evaluate(self):
        loss_fn, metric_fns = self._loss_fn, list(self._metric_fns.values())
        model = self.model

        @tf.function
        def evaluate(ds):
            totals = tf.zeros([1 + len(metric_fns)])
            count = tf.constant(0.0)
            for x, y in ds:
                y_pred = model(x, training=False)
                totals += tf.stack([_loss_sum(fn, y, y_pred) for fn in [loss_fn, *metric_fns]])
                count += tf.cast(tf.shape(x)[0], tf.float32)
            return totals / count

        evaluate._omit_frequent_tracing_warning = True
        return evaluate

    # -- running ----------------------------------------------------------

    @property
    def steps(self) -> int:
        """Optimizer steps attempted so far."""
        return sum(len(r[0]) for r in self._records)

    def advance(self, max_steps: int) -> int:
        """Run up to ``max_steps`` steps, stopping early at the end of an epoch; return how many ran.

        At the end of an epoch the epoch's means and the validation metrics are
        recorded. Under ``nonfinite="raise"`` a non-finite step raises
        ``FloatingPointError`` (the records up to it are kept).
        """
        if self.stopped:
            return 0
        if self._iterator is None:
            self._iterator = iter(self._dataset)
            self._epoch_start = self.steps
        arrays, count, stopped, exhausted = self._run(self._iterator, tf.constant(int(max_steps)))
        rows = [a.numpy() for a in arrays]
        count = int(count)
        if count:
            if self._logger is not None:
                self._logger.steps(self.steps, rows)
            self._records.append(rows)
        self.stopped = bool(stopped)
        epoch_complete = self.steps_per_epoch is not None and self.steps - self._epoch_start >= self.steps_per_epoch
        if bool(exhausted) or self.stopped or epoch_complete:
            if self.steps == self._epoch_start:
                raise ValueError("data yielded no batches")
            self._end_epoch()
        if self.stopped and self.nonfinite == "raise":
            self._raise_nonfinite(rows)
        return count

    def _end_epoch(self) -> None:
        rows = [np.concatenate([r[k] for r in self._records])[self._epoch_start:] for k in (0, 6)]
        losses, metric_rows = rows
        logs = {"loss": float(np.mean(losses))}
        for j, name in enumerate(self._metric_fns):
            logs[name] = float(np.mean(metric_rows[:, j]))
        if self._val_dataset is not None:
            values = self._evaluate(self._val_dataset).numpy()
            logs["val_loss"] = float(values[0])
            for j, name in enumerate(self._metric_fns):
                logs[f"val_{name}"] = float(values[j + 1])
        for name, value in logs.items():
            self._epoch_logs[name].append(value)
        if self._logger is not None:
            self._logger.epoch(self.epochs_done, logs)
        self.epochs_done += 1
        self._iterator = None

    def _raise_nonfinite(self, rows: list[np.ndarray]) -> None:
        step = self.steps - 1
        names = [n for n, ok in zip(self.variable_names, rows[7][-1]) if not ok]
        raise FloatingPointError(
            f"non-finite loss or gradient at step {step} (loss={rows[0][-1]:.4g}); "
            f"non-finite gradients for: {names or 'none (the loss)'}"
        )

    def fit(self, epochs: int, progress: bool = True) -> History:
        """Run ``epochs`` more epochs (fewer if training stops) and return the history so far."""
        epochs = _check_positive_int("epochs", epochs)
        target = self.epochs_done + epochs
        total = self.steps_per_epoch * epochs if self.steps_per_epoch else None
        bar = tqdm(total=total, disable=not progress, desc=f"train ({self.clipper.method})", leave=True)
        try:
            while self.epochs_done < target and not self.stopped:
                count = self.advance(self.steps_per_call)
                bar.update(count)
                if count:
                    bar.set_postfix(loss=f"{self._records[-1][0][-1]:.4g}")
        except KeyboardInterrupt:
            self.interrupted = True
            warnings.warn("training interrupted: returning the history recorded so far", RuntimeWarning, stacklevel=3)
        finally:
            bar.close()
        return self.history

    @property
    def history(self) -> History:
        """Everything recorded so far, as a ``History``."""
        n_vars = len(self.variables)
        columns = [np.concatenate([r[k] for r in self._records]) if self._records else np.zeros(0)
                   for k in range(6)]
        return History(
            loss=columns[0].astype(np.float32),
            grad_norm=columns[1].astype(np.float32),
            clipped_norm=columns[2].astype(np.float32),
            clipped=columns[3].astype(bool),
            applied=columns[4].astype(bool),
            layer_norms=columns[5].reshape(-1, n_vars) if self.record_layer_norms else None,
            variable_names=list(self.variable_names),
            epochs={k: np.array(v) for k, v in self._epoch_logs.items()},
            method=self.clipper.method,
            threshold=self.clipper.threshold,
            interrupted=self.interrupted,
            traces=self._traces_before + self._run.experimental_get_tracing_count(),
        )


def train(
    model: keras.Model,
    data,
    *,
    optimizer: keras.optimizers.Optimizer,
    loss: str | Callable = "mse",
    clipper: Clipper | str | None = None,
    threshold: float | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data=None,
    metrics: Sequence[str | Callable] = (),
    shuffle: bool = True,
    seed: int = 0,
    nonfinite: str = "stop",
    record_norms: bool = True,
    record_layer_norms: bool = False,
    steps_per_call: int = 100,
    accumulation_steps: int = 1,
    strategy: tf.distribute.Strategy | None = None,
    log_dir: str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with mini-batch gradient steps, clipping and full records.

    Each step: loss and gradients under a ``GradientTape`` (loss scaled and the
    gradients unscaled for a ``LossScaleOptimizer``), the global norm, the
    clipper, then ``optimizer.apply``. Many steps run inside one compiled
    ``tf.function`` call, traced once per run.

    Args:
      model: a built Keras model.
      data: ``(x, y)`` numpy arrays (shuffled and batched here) or a batched
        ``tf.data.Dataset`` of ``(x, y)`` (used as is).
      optimizer: a Keras optimizer. Leave its ``clipnorm`` etc. unset when
        passing a clipper, or the gradient is clipped twice.
      loss: a Keras loss name or callable, averaged over the batch.
      clipper: a ``Clipper`` or a method name for ``make_clipper``.
      threshold: the threshold when ``clipper`` is a name.
      epochs, batch_size: as in ``model.fit``.
      validation_data: ``(x, y)`` or a Dataset, evaluated after every epoch.
      metrics: metric functions ``fn(y_true, y_pred)`` or their names, e.g. ``["mae"]``.
      nonfinite: what to do with a non-finite loss or gradient: ``"stop"``
        (default: do not apply it, stop, keep the history), ``"skip"`` (do not
        apply it, count it, go on) or ``"raise"`` (``FloatingPointError``).
      record_norms: record the norm after clipping (costs one reduction).
      record_layer_norms: also record every variable's gradient norm.
      steps_per_call: steps run per compiled call (records come back per call).
      accumulation_steps: split each batch into this many micro-batches and
        accumulate their gradients; clipping then acts once, on the
        accumulated gradient, exactly as on one large batch.
      strategy: a ``tf.distribute`` strategy whose scope built the model and
        optimizer. Gradients are all-reduced first, so every replica clips the
        full-batch gradient (Keras 3's ``global_clipnorm`` clips each replica's
        share before the all-reduce).
      log_dir: write TensorBoard summaries there: per step the loss, the norm
        before and after clipping, whether clipping fired, a histogram of the
        per-variable norms; per epoch the epoch logs.
      progress: show a progress bar.

    Returns:
      A ``History``. Interrupting the kernel returns what was recorded so far.

    >>> from gradclip_helpers import make_regression, seed_mlp
    >>> data = make_regression(n_samples=64, seed=0)
    >>> h = train(seed_mlp(20, seed=0), (data.x_train, data.y_train),
    ...           optimizer=keras.optimizers.SGD(0.01), clipper="global_norm",
    ...           threshold=5.0, epochs=2, progress=False)
    >>> h.steps, h.diverged_at, bool(h.clipped_norm.max() <= 5.0 * (1 + 1e-5))
    (2, None, True)
    """
    epochs = _check_positive_int("epochs", epochs)
    trainer = Trainer(
        model, data, optimizer=optimizer, loss=loss, clipper=clipper, threshold=threshold,
        batch_size=batch_size, validation_data=validation_data, metrics=metrics, shuffle=shuffle,
        seed=seed, nonfinite=nonfinite, record_norms=record_norms, record_layer_norms=record_layer_norms,
        steps_per_call=steps_per_call, accumulation_steps=accumulation_steps, strategy=strategy,
        log_dir=log_dir,
    )
    return trainer.fit(epochs, progress=progress)


# --------------------------------------------------------------------------
# The Keras path


def make_optimizer(
    name: str = "sgd", learning_rate: float = 0.01, clipper: Clipper | str | None = None,
    threshold: float | None = None, **kwargs
) -> keras.optimizers.Optimizer:
    """A Keras optimizer that clips by itself, with the argument matching ``clipper``.

    >>> opt = make_optimizer("sgd", 0.01, "norm", 5.0)
    >>> type(opt).__name__, opt.clipnorm
    ('SGD', 5.0)
    """
    clipper = make_clipper(clipper, threshold)
    optimizer = keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate, **kwargs}})
    clip_kwargs = clipper.keras_kwargs()
    for key, value in clip_kwargs.items():
        setattr(optimizer, key, value)
    return optimizer


class ClippingModel(keras.Model):
    """Wraps a model so ``model.fit`` clips with any clipper and reports the gradient norm.

    Its ``train_step`` follows the Keras 3 guide: ``compute_loss`` inside the
    tape, ``optimizer.scale_loss`` for mixed precision, gradients unscaled
    before clipping, and the metrics ``grad_norm`` (global norm before
    clipping) and ``clip_rate`` (share of steps clipped) next to the loss.
    The wrapped model's own variables are trained.

    >>> from gradclip_helpers import seed_mlp
    >>> m = ClippingModel(seed_mlp(20, seed=0), "global_norm", 5.0)
    >>> m.compile(optimizer="sgd", loss="mse")
    >>> logs = m.fit(np.ones((8, 20)), np.ones((8, 1)), verbose=0).history
    >>> sorted(logs)
    ['clip_rate', 'grad_norm', 'loss']
    """

    def __init__(self, model: keras.Model, clipper: Clipper | str | None = "none",
                 threshold: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.clipper = make_clipper(clipper, threshold)
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.clip_rate_tracker = keras.metrics.Mean(name="clip_rate")

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = unscale_gradients(self.optimizer, tape.gradient(scaled_loss, variables))
        norm = global_norm(grads)
        result = self.clipper.clip(grads, variables, norm=norm)
        self.optimizer.apply(_rescale_gradients(self.optimizer, result.grads), variables)
        self.grad_norm_tracker.update_state(norm)
        self.clip_rate_tracker.update_state(tf.cast(result.clipped, tf.float32))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            elif metric not in (self.grad_norm_tracker, self.clip_rate_tracker):
                metric.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()
