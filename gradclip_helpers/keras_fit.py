"""The Keras ``fit`` path: ``make_optimizer`` (Keras' own clipping) and ``ClippingModel`` (any clipper).

``ClippingModel`` overrides ``train_step`` with today's Keras 3 API
(``compute_loss``; the seed article's ``compiled_loss`` is deprecated) and the
same step pieces as ``train()``: under ``tf.distribute`` it all-reduces the
gradients first and clips the full-batch gradient, so its update does not
depend on the number of devices (Keras 3's ``global_clipnorm`` does).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .clipping import Clipper, make_clipper, squared_norms
from .steps import CLIPPING_ARGUMENTS, all_reduce, apply_if, model_gradients


def make_optimizer(
    name: str = "sgd", learning_rate: float = 0.01, clipper: Clipper | str | None = None,
    threshold: float | None = None, **kwargs
) -> keras.optimizers.Optimizer:
    """A Keras optimizer that clips by itself, with the argument matching ``clipper``.

    Clipping arguments in ``kwargs`` (``clipnorm=...``) are refused next to a
    clipper, and so are two of them together (Keras refuses that too).

    >>> opt = make_optimizer("sgd", 0.01, "norm", 5.0)
    >>> type(opt).__name__, opt.clipnorm
    ('SGD', 5.0)
    """
    clipper = make_clipper(clipper, threshold)
    given = sorted(k for k in CLIPPING_ARGUMENTS if kwargs.get(k) is not None)
    if given and clipper.method != "none":
        raise ValueError(
            f"clipper={clipper.method!r} and {given[0]}= both set a clipping threshold; "
            "pass one of the two"
        )
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)} both set: Keras clips by one of them; pass one")
    config = {"learning_rate": learning_rate, **kwargs, **clipper.keras_kwargs()}
    return keras.optimizers.get({"class_name": name, "config": config})


class _LastValue(keras.metrics.Metric):
    """A metric whose result is the last value given (identical on every replica)."""

    def __init__(self, name: str):
        super().__init__(name=name)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value", aggregation="mean")

    def update_state(self, value):
        self.value.assign(tf.cast(value, self.value.dtype))

    def result(self):
        return self.value


class ClippingModel(keras.Model):
    """Wraps a model so ``model.fit`` clips with any clipper and reports the gradient norm.

    Its ``train_step`` follows the Keras 3 guide: ``compute_loss`` inside the
    tape, ``optimizer.scale_loss`` for mixed precision, gradients unscaled
    before clipping; under a strategy the gradients are summed over replicas
    before clipping. It logs ``grad_norm`` (global norm before clipping,
    averaged over the epoch), ``step_grad_norm`` (this step's, for per-batch
    callbacks) and ``clip_rate`` (share of steps clipped) next to the loss.
    The wrapped model's own variables are trained.

    >>> import numpy as np
    >>> from gradclip_helpers import seed_mlp
    >>> m = ClippingModel(seed_mlp(20, seed=0), "global_norm", 5.0)
    >>> m.compile(optimizer="sgd", loss="mse")
    >>> logs = m.fit(np.ones((8, 20)), np.ones((8, 1)), verbose=0).history
    >>> sorted(logs)
    ['clip_rate', 'grad_norm', 'loss', 'step_grad_norm']
    """

    def __init__(self, model: keras.Model, clipper: Clipper | str | None = "none",
                 threshold: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.clipper = make_clipper(clipper, threshold)
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.step_grad_norm = _LastValue(name="step_grad_norm")
        self.clip_rate_tracker = keras.metrics.Mean(name="clip_rate")

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        own = {k: getattr(self.optimizer, k, None) for k in CLIPPING_ARGUMENTS}
        own = {k: v for k, v in own.items() if v}
        if own and self.clipper.method != "none":
            raise ValueError(
                f"the optimizer clips by itself ({own}) and the ClippingModel's clipper "
                f"{self.clipper.method!r} would clip again; use one of the two"
            )

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        loss, y_pred, grads = model_gradients(self, self.optimizer, variables, x, y, sample_weight)
        grads = all_reduce(grads)
        squared = squared_norms(grads)
        norm = tf.sqrt(tf.add_n(squared))
        result = self.clipper.clip_measured(grads, variables, squared)
        apply_if(self.optimizer, result.grads, variables, tf.constant(True))
        self.grad_norm_tracker.update_state(norm)
        self.step_grad_norm.update_state(norm)
        self.clip_rate_tracker.update_state(tf.cast(result.clipped, tf.float32))
        return self._update_compiled_metrics(x, y, y_pred, sample_weight, loss)

    def _update_compiled_metrics(self, x, y, y_pred, sample_weight, loss):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
