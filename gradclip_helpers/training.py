"""Training with clipping: ``train()`` and the ``Trainer`` that runs it a few steps at a time.

``train()`` is one custom loop for every notebook: a ``tf.function`` that runs
many steps per call, records the loss and the global gradient norm before and
after clipping at every step, and handles non-finite values by a named policy.
It takes what ``model.fit`` takes (arrays, tuples and dicts of arrays, sample
weights, ``tf.data`` Datasets, loss names, metrics, regularisers,
``tf.distribute`` strategies, mixed precision) and computes the loss and the
metrics with Keras' own code, so an unclipped or Keras-clippable run ends with
the weights and logs ``fit`` would give. The step's pieces live in
``steps.py``; the records in ``history.py``; the ``fit`` path in ``keras_fit.py``.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .clipping import Clipper, NoClipper, ThresholdClipper, make_clipper, squared_norms
from .history import History
from .spikes import SpikeSkipper
from .steps import all_reduce, apply_if, batch_size, loss_scale, model_gradients, optimizer_clip_arguments

NONFINITE_POLICIES = ("stop", "skip", "raise")


# --------------------------------------------------------------------------
# Data, as fit takes it


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_array(name: str, value) -> np.ndarray:
    """One input, target or weight array as Keras' array adapter keeps it: floats as float32, ints as they are."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}: {exc}") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{name} must have a batch dimension, got a scalar")
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def _arrays(data, name: str):
    """``(x, y)`` or ``(x, y, sample_weight)`` with every leaf a numpy array of one common length."""
    if isinstance(data, dict):
        raise ValueError(f"{name}: pass (x, y) with x a dict of inputs, not a dict alone")
    if not (isinstance(data, (tuple, list)) and len(data) in (2, 3)):
        raise ValueError(
            f"{name} must be (x, y) or (x, y, sample_weight) arrays, or a batched tf.data.Dataset; "
            f"got {type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
        )
    parts = tuple(data) if data[-1] is not None else tuple(data[:-1])
    if any(p is None for p in parts[:2]):
        raise ValueError(f"{name}: x and y must not be None")
    labels = ("x", "y", "sample_weight")
    arrays = tuple(
        tf.nest.map_structure(lambda a, label=label: _as_array(f"{name} {label}", a), part)
        for label, part in zip(labels, parts)
    )
    lengths = {label: {len(a) for a in tf.nest.flatten(part)} for label, part in zip(labels, arrays)}
    every = set().union(*lengths.values())
    if len(every) != 1:
        counts = [f"{label} has {n.pop() if len(n) == 1 else sorted(n)}" for label, n in lengths.items()]
        raise ValueError(f"{name}: {counts[0]} samples but {' and '.join(counts[1:])}; "
                         "every array needs one entry per sample")
    if every == {0}:
        raise ValueError(f"{name} is empty: x has 0 samples")
    return arrays, every.pop()


def _check_dataset(data: tf.data.Dataset, name: str) -> int:
    """Refuse a Dataset that does not yield ``(x, y[, sample_weight])`` or is empty; return its cardinality."""
    spec = data.element_spec
    if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
        raise ValueError(f"{name} must yield (x, y) or (x, y, sample_weight) batches, got elements of {spec}")
    cardinality = int(data.cardinality())
    if cardinality == 0:
        raise ValueError(f"{name} is an empty Dataset")
    return cardinality


def _as_dataset(data, batch_size: int, shuffle: bool, seed: int, name: str,
                steps_per_epoch: int | None = None) -> tuple[tf.data.Dataset, int | None]:
    """Turn arrays or a batched Dataset into batches of ``(x, y[, sample_weight])``; also return its length.

    The length in batches is ``steps_per_epoch`` when given, else what
    TensorFlow knows; a Dataset of unknown or infinite length needs
    ``steps_per_epoch`` (as in ``model.fit``), or training could never end.
    """
    if isinstance(data, tf.data.Dataset):
        cardinality = _check_dataset(data, name)
        if cardinality < 0 and steps_per_epoch is None:
            kind = "infinite (it repeats)" if cardinality == tf.data.INFINITE_CARDINALITY else "unknown"
            raise ValueError(
                f"{name} has {kind} length, so an epoch would never end; pass steps_per_epoch=N "
                "(as in model.fit), or tell TensorFlow a finite length with "
                "dataset.apply(tf.data.experimental.assert_cardinality(N))"
            )
        return data, steps_per_epoch or cardinality
    arrays, n_samples = _arrays(data, name)
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(n_samples, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size), steps_per_epoch or math.ceil(n_samples / batch_size)


def _first_batch(dataset: tf.data.Dataset):
    for element in dataset.take(1):
        return element
    raise ValueError("data yielded no batches")


class _ArrayBatches:
    """Array data batched inside the compiled loop, as Keras' own array adapter does.

    Each epoch shuffles an index once (stateless: from ``seed`` and the epoch
    number) and every step takes its batch with ``tf.gather``; no ``tf.data``
    pipeline handles the data element by element, and chunked ``advance``
    calls pass the position as a tensor, so they share one trace.
    """

    def __init__(self, arrays, n_samples: int, batch_size: int, shuffle: bool, seed: int):
        self.tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)
        self.n_samples, self.batch_size, self.shuffle, self.seed = n_samples, batch_size, shuffle, seed
        self.batches = math.ceil(n_samples / batch_size)

    def first_batch(self):
        return tf.nest.map_structure(lambda t: t[: self.batch_size], self.tensors)

    def order(self, epoch: int) -> tf.Tensor:
        index = tf.range(self.n_samples)
        if not self.shuffle:
            return index
        return tf.random.experimental.stateless_shuffle(index, seed=[self.seed, epoch])


def _compile(model: keras.Model, optimizer, loss, metrics, strategy, element) -> keras.metrics.Metric:
    """Compile ``model`` as ``model.compile`` would and build its loss and metrics on one batch.

    ``train()`` computes the loss and the metrics with the model's compiled
    loss and metric objects, so they are Keras' own, with fit's names and
    values. A second call with the same optimizer, loss and metrics keeps the
    compiled state (and so the compiled steps cached on the model). Returns
    the loss tracker (the running mean fit logs as "loss").
    """
    key = (id(optimizer), _identity(loss), tuple(_identity(m) for m in metrics))
    cached = getattr(model, "_gradclip_compiled", None)
    if cached is not None and cached["key"] == key and cached["metrics"] == list(model.metrics):
        return cached["tracker"]
    with strategy.scope():
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics) or None)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
        y_pred = model(x, training=False)
        model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        model.reset_metrics()
    tracker = next(m for m in model.metrics if m.name == "loss")
    # Plain attribute, not tracked by Keras: it dies with the model. Holds the
    # objects whose ids are in the keys, so the ids stay theirs.
    object.__setattr__(model, "_gradclip_compiled", {
        "key": key, "metrics": list(model.metrics), "tracker": tracker, "steps": {},
        "holds": (optimizer, loss, list(metrics)),
    })
    return tracker


def _identity(value) -> object:
    return value if isinstance(value, str) else id(value)


def _check_metrics(metrics) -> list:
    if isinstance(metrics, (str, keras.metrics.Metric)) or callable(metrics):
        raise TypeError(f"metrics must be a list, e.g. metrics=[{metrics!r}], got {metrics!r}")
    metrics = list(metrics)
    for m in metrics:
        if isinstance(m, str):
            try:
                keras.metrics.get(m)
            except ValueError:
                if m.lower() not in ("accuracy", "acc", "crossentropy", "ce"):
                    raise ValueError(f"unknown metric {m!r} in metrics; use a keras.metrics name or object") from None
        elif not (isinstance(m, keras.metrics.Metric) or callable(m)):
            raise TypeError(f"metrics entries must be names, keras.metrics.Metric objects or functions, got {m!r}")
    return metrics


# --------------------------------------------------------------------------
# The compiled step


_RECORDS = (  # name, dtype, per variable
    ("loss", tf.float32, False), ("grad_norm", tf.float32, False), ("clipped_norm", tf.float32, False),
    ("clipped", tf.bool, False), ("applied", tf.bool, False), ("overflow", tf.bool, False),
    ("spike_skipped", tf.bool, False), ("layer_norms", tf.float32, True), ("finite", tf.bool, True),
)


def _make_step(model, optimizer, variables, loss_tracker, clipper: Clipper, skipper: SpikeSkipper | None, *,
               accumulation_steps: int, nonfinite: str, record_norms: bool, record_layer_norms: bool):
    """The per-replica training step: gradients, all-reduce, measure, clip, apply, records.

    Returns the records of ``_RECORDS`` and a ``stop`` flag, identical on every replica.
    """
    is_loss_scaled = loss_scale(optimizer) is not None

    def micro_batch(x, y, sample_weight, start, size, n):
        # One micro-batch's loss (as fit computes it) and gradients, weighted by its share of the batch.
        xs, ys, ws = tf.nest.map_structure(lambda t: None if t is None else t[start:start + size],
                                           (x, y, sample_weight))
        share = tf.cast(batch_size(xs), tf.float32) / tf.cast(n, tf.float32)
        loss, y_pred, grads = model_gradients(model, optimizer, variables, xs, ys, ws, share)
        model.compute_metrics(xs, ys, y_pred, sample_weight=ws)
        loss = tf.cast(loss, tf.float32)
        loss_tracker.update_state(_unscale_for_distribution(loss), sample_weight=batch_size(xs))
        return loss * share, grads

    def gradients(x, y, sample_weight):
        n = batch_size(x)
        if accumulation_steps == 1:
            return micro_batch(x, y, sample_weight, 0, n, n)
        # Accumulation as a graph loop: the first micro-batch fixes which gradients
        # exist; the others add to them (densely) inside a tf.while_loop.
        size = (n + accumulation_steps - 1) // accumulation_steps
        loss, first = micro_batch(x, y, sample_weight, 0, size, n)
        present = [i for i, g in enumerate(first) if g is not None]
        totals = [tf.convert_to_tensor(first[i]) for i in present]

        def body(k, loss, totals):
            more_loss, more = micro_batch(x, y, sample_weight, k * size, size, n)
            return k + 1, loss + more_loss, [t + tf.convert_to_tensor(more[i]) for t, i in zip(totals, present)]

        _, loss, totals = tf.while_loop(lambda k, *_: k < accumulation_steps, body, (tf.constant(1), loss, totals))
        grads = [None] * len(first)
        for i, total in zip(present, totals):
            grads[i] = total
        return loss, grads

    def step(element):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
        loss, grads = gradients(x, y, sample_weight)
        context = tf.distribute.get_replica_context()
        if context.num_replicas_in_sync > 1:
            loss = context.all_reduce("sum", loss)
        grads = all_reduce(grads)  # clip the full-batch gradient, on every replica the same

        squared = squared_norms(grads)  # measured once: norm, per-tensor clipping, records
        norm = tf.sqrt(tf.add_n(squared))
        finite_loss = tf.math.is_finite(loss)
        finite = tf.logical_and(finite_loss, tf.math.is_finite(norm))
        result = clipper.clip_measured(grads, variables, squared)
        spike = skipper.check(norm, loss) if skipper is not None else tf.constant(False)
        # A LossScaleOptimizer skips non-finite gradients and lowers its scale by itself.
        apply = tf.logical_and(finite_loss if is_loss_scaled else finite, tf.logical_not(spike))
        apply_if(optimizer, result.grads, variables, apply)

        overflow = tf.logical_and(tf.constant(is_loss_scaled), tf.logical_and(finite_loss, tf.logical_not(finite)))
        after = tf.sqrt(tf.add_n(squared_norms(result.grads))) if record_norms else tf.constant(float("nan"))
        per_var = tf.sqrt(tf.stack(squared)) if record_layer_norms else tf.zeros([0])
        var_finite = tf.math.is_finite(tf.stack(squared)) if nonfinite == "raise" else tf.zeros([0], tf.bool)
        stop = tf.logical_and(tf.constant(nonfinite in ("stop", "raise")),
                              tf.logical_not(finite_loss if is_loss_scaled else finite))
        applied = tf.logical_and(apply, finite)
        return [loss, norm, after, result.clipped, applied, overflow, spike, per_var, var_finite, stop]

    # As in Keras' own fit: the step is traced as written, not converted by
    # autograph (its control flow is explicit: tf.while_loop, tf.cond), which
    # makes the first call cheaper.
    return tf.autograph.experimental.do_not_convert(step)


def _unscale_for_distribution(loss: tf.Tensor) -> tf.Tensor:
    # compute_loss carries fit's 1 / replicas factor; the loss tracker wants the replica's own mean.
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    return loss * replicas


def _loop_over_dataset(step, strategy):
    """A compiled loop running up to ``max_steps`` steps from a (distributed) Dataset iterator."""

    @tf.function
    def run(iterator, max_steps):
        arrays = [tf.TensorArray(dtype, size=0, dynamic_size=True) for _, dtype, _ in _RECORDS]
        i = tf.constant(0)
        stopped = tf.constant(False)
        exhausted = tf.constant(False)
        while i < max_steps and not stopped and not exhausted:
            optional = iterator.get_next_as_optional()
            if optional.has_value():
                records = [strategy.experimental_local_results(r)[0]
                           for r in strategy.run(step, args=(optional.get_value(),))]
                stopped = records.pop()
                arrays = [a.write(i, r) for a, r in zip(arrays, records)]
                i += 1
            else:
                exhausted = True
        return [a.stack() for a in arrays], i, stopped, exhausted

    # TensorFlow counts traces by source line across instances and would warn
    # about "frequent retracing" after a few runs in one notebook; each
    # function here is traced once per data structure (tested).
    run._omit_frequent_tracing_warning = True
    return run


def _loop_over_arrays(step):
    """A compiled loop running ``steps`` steps on batches gathered from arrays by a shuffled index."""

    @tf.function
    def run(tensors, order, position, steps, batch_size):
        arrays = [tf.TensorArray(dtype, size=0, dynamic_size=True) for _, dtype, _ in _RECORDS]
        n = tf.shape(order)[0]
        i = tf.constant(0)
        stopped = tf.constant(False)
        while i < steps and not stopped:
            start = (position + i) * batch_size
            index = order[start:tf.minimum(start + batch_size, n)]
            records = step(tf.nest.map_structure(lambda t, index=index: tf.gather(t, index), tensors))
            stopped = records.pop()
            arrays = [a.write(i, r) for a, r in zip(arrays, records)]
            i += 1
        return [a.stack() for a in arrays], i, stopped

    run._omit_frequent_tracing_warning = True
    return run


class _SummaryLogger:
    """Writes the records of ``train(..., log_dir=...)`` as TensorBoard summaries."""

    def __init__(self, log_dir: str):
        try:
            os.makedirs(log_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=log_dir):
                pass
        except OSError as exc:
            raise ValueError(f"log_dir {str(log_dir)!r} cannot be written: {exc}") from None
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self._write = tf.function(self._write_rows)

    def _write_rows(self, first_step, loss, before, after, clipped, skipped, layer_norms):
        # One compiled call per chunk of steps, not five eager calls per step; the
        # root name scope keeps the tags free of the loop's "while/" prefix.
        with self.writer.as_default():
            for i in tf.range(tf.shape(loss)[0]):
                step = tf.cast(first_step + i, tf.int64)
                with tf.compat.v1.name_scope(None):
                    tf.summary.scalar("loss", loss[i], step=step)
                    tf.summary.scalar("grad_norm/before_clipping", before[i], step=step)
                    tf.summary.scalar("grad_norm/after_clipping", after[i], step=step)
                    tf.summary.scalar("grad_norm/clipped", tf.cast(clipped[i], tf.float32), step=step)
                    tf.summary.scalar("grad_norm/skipped", tf.cast(skipped[i], tf.float32), step=step)
                    tf.summary.histogram("grad_norm/per_variable", layer_norms[i], step=step)

    def steps(self, first_step: int, rows: dict[str, np.ndarray]) -> None:
        self._write(tf.constant(first_step), rows["loss"], rows["grad_norm"], rows["clipped_norm"],
                    rows["clipped"], rows["spike_skipped"], rows["layer_norms"])
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
    between steps, which is what the live dashboard does.

    The model is compiled with ``optimizer``, ``loss`` and ``metrics`` (as
    ``model.compile`` would), and the loss and metrics come from Keras' own
    objects: the epoch logs carry ``fit``'s names and values, and
    ``model.evaluate`` works afterwards.

    Args:
      model: a Keras model (built, or built here on the first batch).
      data: what ``model.fit`` takes: ``(x, y)`` or ``(x, y, sample_weight)``
        arrays, where ``x`` is an array, a tuple or a dict of arrays (shuffled
        and batched here; integer inputs stay integer), or a batched
        ``tf.data.Dataset`` of such tuples (used as is).
      optimizer: a Keras optimizer. Leave its ``clipnorm`` etc. unset when
        passing a clipper, or the gradient would be clipped twice (refused).
      loss: a Keras loss name, object or function, as in ``model.compile``.
      clipper: a ``Clipper`` or a method name for ``make_clipper``.
      threshold: the threshold when ``clipper`` is a name (an error if it
        contradicts a ``Clipper``'s own).
      batch_size: examples per step for array data.
      validation_data: ``(x, y[, sample_weight])`` or a Dataset, evaluated with
        ``model.evaluate`` after every epoch (logged as ``val_...``).
      metrics: what ``model.compile`` takes: names (``"accuracy"``, ``"mae"``)
        and ``keras.metrics.Metric`` objects, reset every epoch.
      shuffle, seed: shuffle array data every epoch, reproducibly.
      steps_per_epoch: batches per epoch; needed for a Dataset of unknown or
        infinite length (as in ``model.fit``).
      nonfinite: what to do with a non-finite loss or gradient: ``"stop"``
        (default: do not apply it, stop, keep the history), ``"skip"`` (do not
        apply it, count it, go on) or ``"raise"`` (``FloatingPointError``).
        Loss-scale overflows are the ``LossScaleOptimizer``'s business: it
        skips them and lowers its scale; they are recorded as ``overflow``.
      skip_spikes: a ``SpikeSkipper``: hold back updates whose gradient norm
        is a spike against a rolling window (recorded as ``spike_skipped``).
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
        before and after clipping, whether clipping fired or the step was
        skipped, a histogram of the per-variable norms; per epoch the logs.

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
                 metrics: Sequence[str | Callable | keras.metrics.Metric] = (), shuffle: bool = True,
                 seed: int = 0, steps_per_epoch: int | None = None, nonfinite: str = "stop",
                 skip_spikes: SpikeSkipper | None = None, record_norms: bool = True,
                 record_layer_norms: bool = False, steps_per_call: int = 100, accumulation_steps: int = 1,
                 strategy: tf.distribute.Strategy | None = None, log_dir: str | None = None):
        # Check everything before touching the model or the optimizer: a refused call changes nothing.
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"optimizer must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}")
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
        if skip_spikes is not None and not isinstance(skip_spikes, SpikeSkipper):
            raise TypeError(f"skip_spikes must be a SpikeSkipper or None, got {skip_spikes!r}")
        batch_size = _check_positive_int("batch_size", batch_size)
        if steps_per_epoch is not None:
            steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)
        self.steps_per_call = _check_positive_int("steps_per_call", steps_per_call)
        self.accumulation_steps = _check_positive_int("accumulation_steps", accumulation_steps)
        if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(f"strategy must be a tf.distribute.Strategy, got {type(strategy).__name__}")
        metrics = _check_metrics(metrics)
        self.clipper = self._checked_clipper(optimizer, clipper, threshold)
        # Arrays on one device are batched inside the compiled loop; Datasets and
        # strategies go through tf.data.
        self._arrays = None
        if isinstance(data, tf.data.Dataset) or strategy is not None:
            dataset, self.steps_per_epoch = _as_dataset(data, batch_size, shuffle, seed, "data", steps_per_epoch)
        else:
            arrays, n_samples = _arrays(data, "data")
            self._arrays = _ArrayBatches(arrays, n_samples, batch_size, shuffle, seed)
            self.steps_per_epoch = min(steps_per_epoch or self._arrays.batches, self._arrays.batches)
        # As in fit: with steps_per_epoch given, an epoch of a Dataset goes on where the last one stopped.
        self._keep_iterator = steps_per_epoch is not None
        self._validation = None
        if validation_data is not None:
            if isinstance(validation_data, tf.data.Dataset):
                if _check_dataset(validation_data, "validation_data") == tf.data.INFINITE_CARDINALITY:
                    raise ValueError("validation_data repeats forever; evaluating it would never end")
                self._validation = {"x": validation_data}
            else:
                arrays, _ = _arrays(validation_data, "validation_data")
                self._validation = dict(zip(("x", "y", "sample_weight"), arrays), batch_size=batch_size)
        self.strategy = strategy or tf.distribute.get_strategy()
        if isinstance(loss, str):
            try:
                keras.losses.get(loss)
            except ValueError:
                raise ValueError(f"unknown loss {loss!r}; use a keras.losses name, object or function") from None
        self._log_dir = log_dir
        self._logger = _SummaryLogger(log_dir) if log_dir is not None else None

        self.model, self.optimizer, self.nonfinite, self.skipper = model, optimizer, nonfinite, skip_spikes
        self.record_norms = record_norms
        self.record_layer_norms = record_layer_norms or log_dir is not None
        self._check_strategy_owns(model)  # a built model: before compiling it
        first = self._arrays.first_batch() if self._arrays is not None else _first_batch(dataset)
        self._loss_tracker = _compile(model, optimizer, loss, metrics, self.strategy, first)
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise ValueError("the model has no trainable variables")
        self._check_strategy_owns(model)  # a model built on the first batch
        if self._arrays is None and self.strategy.num_replicas_in_sync > 1:
            dataset = self.strategy.experimental_distribute_dataset(dataset)
        self._dataset = dataset if self._arrays is None else None
        if not optimizer.built:
            with self.strategy.scope():
                optimizer.build(self.variables)
        self.variable_names = [getattr(v, "path", v.name) for v in self.variables]

        self._records: list[dict[str, np.ndarray]] = []
        self._epoch_logs: dict[str, list[float]] = {}
        self._iterator = None
        self._order = None
        self._epoch_start = 0
        self._traces_before = 0
        self._traces_seen = 0
        self._run = None
        self.epochs_done = 0
        self.stopped = False
        self.interrupted = False
        self._compile_step()

    # -- building ---------------------------------------------------------

    def _check_strategy_owns(self, model: keras.Model) -> None:
        variables = model.trainable_variables
        if self.strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
            return  # no strategy: nothing to own
        first = getattr(variables[0], "value", variables[0]) if variables else None
        if first is not None and not self.strategy.extended.variable_created_in_scope(first):
            raise ValueError("with a strategy, build the model and optimizer inside strategy.scope()")

    @staticmethod
    def _checked_clipper(optimizer, clipper, threshold) -> Clipper:
        clipper = make_clipper(clipper, threshold)
        own = optimizer_clip_arguments(optimizer)
        if clipper.method != "none" and own:
            raise ValueError(
                f"the optimizer clips by itself ({', '.join(f'{k}={v}' for k, v in own.items())}) "
                f"and clipper={clipper.method!r} would clip again; use one of the two"
            )
        return clipper

    def set_clipper(self, clipper: Clipper | str | None, threshold: float | None = None) -> None:
        """Use another clipper from the next step on (invalid input raises and changes nothing).

        The same method by name with another threshold is an assignment to the
        running clipper's threshold variable: no new trace (an adaptive
        clipper keeps its state).
        """
        new = self._checked_clipper(self.optimizer, clipper, threshold)
        same_method = not isinstance(clipper, Clipper) and type(new) is type(self.clipper)
        if same_method and new.threshold is not None and self.clipper.threshold is not None:
            self.clipper.threshold = new.threshold  # a variable the compiled step reads (adaptive ones too)
            return
        self.clipper = new
        self._compile_step()

    def _compile_step(self) -> None:
        """Find or build the compiled loop for this model, optimizer, clipper method and options.

        Cached on the model: a second ``train()`` call on the same model and
        optimizer reuses the trace (a threshold clipper called by name takes
        the new threshold by assignment).
        """
        reusable = isinstance(self.clipper, (ThresholdClipper, NoClipper))
        key = (id(self.optimizer), type(self.clipper) if reusable else id(self.clipper), id(self.skipper),
               self.accumulation_steps, self.nonfinite, self.record_norms, self.record_layer_norms,
               id(self.strategy), self._arrays is None)
        cache = self.model._gradclip_compiled["steps"]
        if key in cache:
            run, clipper = cache[key][:2]
            if reusable and clipper is not self.clipper and self.clipper.threshold is not None:
                clipper.threshold = self.clipper.threshold
            self.clipper = clipper
        else:
            step = _make_step(self.model, self.optimizer, self.variables, self._loss_tracker, self.clipper,
                              self.skipper, accumulation_steps=self.accumulation_steps, nonfinite=self.nonfinite,
                              record_norms=self.record_norms, record_layer_norms=self.record_layer_norms)
            run = _loop_over_dataset(step, self.strategy) if self._arrays is None else _loop_over_arrays(step)
            cache[key] = (run, self.clipper, self.optimizer, self.skipper, self.strategy)
        if self._run is not None:
            self._traces_before += self._run.experimental_get_tracing_count() - self._traces_seen
        self._run = run
        self._traces_seen = run.experimental_get_tracing_count()

    # -- running ----------------------------------------------------------

    @property
    def steps(self) -> int:
        """Optimizer steps attempted so far."""
        return sum(len(r["loss"]) for r in self._records)

    def advance(self, max_steps: int) -> int:
        """Run up to ``max_steps`` steps, stopping early at the end of an epoch; return how many ran.

        At the end of an epoch the epoch's logs and the validation metrics are
        recorded. Under ``nonfinite="raise"`` a non-finite step raises
        ``FloatingPointError`` (the records up to it are kept).
        """
        max_steps = _check_positive_int("max_steps", max_steps)
        if self.stopped:
            return 0
        if self.steps == self._epoch_start:
            self.model.reset_metrics()
        position = self.steps - self._epoch_start
        if self.steps_per_epoch is not None:
            max_steps = min(max_steps, self.steps_per_epoch - position)
        if self._arrays is not None:
            if position == 0:
                self._order = self._arrays.order(self.epochs_done)
            arrays, count, stopped = self._run(self._arrays.tensors, self._order, tf.constant(position),
                                               tf.constant(max_steps), tf.constant(self._arrays.batch_size))
            exhausted = position + int(count) >= self._arrays.batches
        else:
            if self._iterator is None:
                self._iterator = iter(self._dataset)
            arrays, count, stopped, exhausted = self._run(self._iterator, tf.constant(max_steps))
        rows = {name: a.numpy() for (name, _, _), a in zip(_RECORDS, arrays)}
        count = int(count)
        if count:
            if self._logger is not None:
                self._logger.steps(self.steps, rows)
            self._records.append(rows)
        self.stopped = bool(stopped)
        epoch_complete = self.steps_per_epoch is not None and self.steps - self._epoch_start >= self.steps_per_epoch
        if bool(exhausted):
            self._iterator = None  # a finite Dataset starts again in the next epoch
        if bool(exhausted) or self.stopped or epoch_complete:
            if self.steps == self._epoch_start:
                raise ValueError("data yielded no batches")
            self._end_epoch()
        if self.stopped and self.nonfinite == "raise":
            self._raise_nonfinite(rows)
        return count

    def _end_epoch(self) -> None:
        logs = {k: float(v) for k, v in self.model.get_metrics_result().items()}
        if self._validation is not None:
            results = self.model.evaluate(**self._validation, verbose=0, return_dict=True)
            logs.update({f"val_{k}": float(v) for k, v in results.items()})
        for name, value in logs.items():
            self._epoch_logs.setdefault(name, []).append(value)
        if self._logger is not None:
            self._logger.epoch(self.epochs_done, logs)
        self.epochs_done += 1
        self._epoch_start = self.steps
        if not self._keep_iterator:
            self._iterator = None  # the next epoch starts the data again (and reshuffles it)

    def _raise_nonfinite(self, rows: dict[str, np.ndarray]) -> None:
        step = self.steps - 1
        names = [n for n, ok in zip(self.variable_names, rows["finite"][-1]) if not ok]
        raise FloatingPointError(
            f"non-finite loss or gradient at step {step} (loss={rows['loss'][-1]:.4g}); "
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
                    bar.set_postfix(loss=f"{self._records[-1]['loss'][-1]:.4g}")
        except KeyboardInterrupt:
            self.interrupted = True
            warnings.warn("training interrupted: returning the history recorded so far", RuntimeWarning, stacklevel=3)
        finally:
            bar.close()
        return self.history

    @property
    def history(self) -> History:
        """Everything recorded so far, as a ``History``."""
        def column(name: str, dtype) -> np.ndarray:
            parts = [r[name] for r in self._records]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        layer_norms = column("layer_norms", np.float32).reshape(-1, len(self.variables))
        return History(
            loss=column("loss", np.float32), grad_norm=column("grad_norm", np.float32),
            clipped_norm=column("clipped_norm", np.float32), clipped=column("clipped", bool),
            applied=column("applied", bool), overflow=column("overflow", bool),
            spike_skipped=column("spike_skipped", bool),
            layer_norms=layer_norms if self.record_layer_norms else None,
            variable_names=list(self.variable_names),
            epochs={k: np.array(v) for k, v in self._epoch_logs.items()},
            method=self.clipper.method,
            threshold=self.clipper.threshold,
            interrupted=self.interrupted,
            traces=self._traces_before + self._run.experimental_get_tracing_count() - self._traces_seen,
        )


def train(model: keras.Model, data, *, epochs: int = 1, progress: bool = True, **options) -> History:
    """Train ``model`` with mini-batch gradient steps, clipping and full records, like ``model.fit``.

    Each step: the loss as ``fit`` computes it and its gradients (loss scaled
    and the gradients unscaled for a ``LossScaleOptimizer``), the all-reduce
    under a strategy, the global norm, the clipper, then ``optimizer.apply``.
    Many steps run inside one compiled ``tf.function`` call.

    Args:
      model, data: as in ``model.fit`` (see ``Trainer``).
      epochs: passes over the data (``steps_per_epoch`` steps each when given).
      progress: show a progress bar.
      **options: every argument of ``Trainer`` (``optimizer`` is required;
        ``loss``, ``clipper``, ``threshold``, ``batch_size``, ``metrics``,
        ``validation_data``, ``strategy``, ``skip_spikes``, ...).

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
    if "optimizer" not in options:
        raise TypeError("train() needs optimizer=, e.g. optimizer=keras.optimizers.SGD(0.01)")
    return Trainer(model, data, **options).fit(epochs, progress=progress)
