"""The pieces of one training step with clipping, shared by ``train()`` and ``ClippingModel``.

A step is: ``model_gradients`` (forward, the loss exactly as ``model.fit``
computes it, backward; loss scaling undone), ``all_reduce`` (sum over
``tf.distribute`` replicas, so every replica holds the full-batch gradient),
measure (``squared_norms``, once), clip (the clipper), ``apply_if`` (the
optimizer update, unless the step is skipped). Keeping clipping *after* the
all-reduce is the point: Keras 3's own ``global_clipnorm`` clips each
replica's share before it, so its update depends on the number of devices.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from .clipping import Gradient, scale_gradient


def loss_scale(optimizer: keras.optimizers.Optimizer) -> tf.Tensor | None:
    """The factor a ``LossScaleOptimizer`` multiplies the loss by, else None."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return None


def unscale_gradients(optimizer: keras.optimizers.Optimizer, grads: Sequence[Gradient]) -> list[Gradient]:
    """Divide gradients of a loss-scaled objective by the scale, so clipping sees true values.

    Clipping scaled gradients (the common mixed-precision bug) compares a
    threshold with gradients 32768 times too large.

    >>> unscale_gradients(keras.optimizers.SGD(), [tf.constant([2.0]), None])[0].numpy().tolist()
    [2.0]
    """
    scale = loss_scale(optimizer)
    if scale is None:
        return list(grads)
    return [scale_gradient(g, 1.0 / scale) for g in grads]


def rescale_gradients(optimizer: keras.optimizers.Optimizer, grads: Sequence[Gradient]) -> list[Gradient]:
    """Undo ``unscale_gradients`` before ``LossScaleOptimizer.apply`` (a power of two: exact)."""
    scale = loss_scale(optimizer)
    if scale is None:
        return list(grads)
    return [scale_gradient(g, scale) for g in grads]


def batch_size(x) -> tf.Tensor:
    """The number of examples in a batch of inputs (an array, a tuple or a dict of arrays)."""
    return tf.shape(tf.nest.flatten(x)[0])[0]


def model_gradients(model: keras.Model, optimizer, variables, x, y, sample_weight, weight=1.0):
    """Forward and backward pass with the loss ``model.fit`` would compute.

    The loss is ``model.compute_loss`` (the compiled loss with sample weights,
    plus ``model.losses``: regularisers and ``add_loss``), which under
    ``tf.distribute`` already carries the ``1 / replicas`` factor fit uses;
    times ``weight`` (a micro-batch's share of the batch). Gradients come back
    unscaled for a ``LossScaleOptimizer``.

    Returns ``(loss, y_pred, grads)`` with ``loss`` before ``weight``.
    """
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        objective = optimizer.scale_loss(loss * tf.cast(weight, loss.dtype))
    return loss, y_pred, unscale_gradients(optimizer, tape.gradient(objective, variables))


def all_reduce(grads: Sequence[Gradient]) -> list[Gradient]:
    """Sum gradients over the replicas of the current ``tf.distribute`` replica context."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return list(grads)
    present = [i for i, g in enumerate(grads) if g is not None]
    out = list(grads)
    for i, g in zip(present, context.all_reduce("sum", [grads[i] for i in present]) if present else []):
        out[i] = g
    return out


def apply_if(optimizer, grads: Sequence[Gradient], variables, flag: tf.Tensor) -> None:
    """``optimizer.apply(grads)`` where ``flag`` holds, as one graph on every replica.

    Every replica holds the full-batch gradient; Keras sums the replicas'
    gradients again inside ``apply``, so each passes its share (1 / replicas).
    """
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    update = rescale_gradients(optimizer, [scale_gradient(g, 1.0 / replicas) for g in grads])

    def apply(grads=update):
        optimizer.apply(grads, variables)
        return tf.constant(True)

    if tf.distribute.has_strategy() and not tf.__internal__.distribute.strategy_supports_no_merge_call():
        # A cond whose branch synchronises replicas must run in cross-replica
        # context (as in Keras' LossScaleOptimizer).
        def cross_replica(distribution, flag, grads):
            def call():
                distribution.extended.call_for_each_replica(apply, args=(grads,))
                return tf.constant(True)

            flag = distribution.experimental_local_results(flag)[0]
            tf.cond(flag, call, lambda: tf.constant(False))

        context.merge_call(cross_replica, args=(flag, update))
    else:
        tf.cond(flag, apply, lambda: tf.constant(False))


CLIPPING_ARGUMENTS = ("clipvalue", "clipnorm", "global_clipnorm")


def optimizer_clip_arguments(optimizer) -> dict[str, float]:
    """The clipping arguments a Keras optimizer (or the one inside a LossScaleOptimizer) has set."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return {name: getattr(inner, name) for name in CLIPPING_ARGUMENTS if getattr(inner, name, None)}
