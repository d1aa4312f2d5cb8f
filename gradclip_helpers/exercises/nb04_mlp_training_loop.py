"""Checkers for notebook 04, the training loop: one clipped train step, a Keras optimizer that clips like ``gh.train``.

>>> import keras
>>> result = check_keras_optimizer(lambda lr, c: keras.optimizers.SGD(lr, clipnorm=c))
Not yet: clipnorm clips each tensor on its own (per-tensor); gh.train's 'global_norm' spans all tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from ..models import seed_mlp
from .cases import step_data, step_outcomes
from .framework import as_array, call, checker, fail, same


@checker
def check_train_step(train_step: Callable) -> str:
    """Exercise: ``train_step(model, optimizer, x, y, clip_norm)``: one globally clipped step; returns the loss."""
    for scale, label in [(100.0, "a batch with large targets"), (0.01, "a batch whose gradient is short")]:
        x, y = step_data(11, scale)
        lr, clip = 0.01, 1.0
        outcomes = step_outcomes(x, y, lr, clip)
        model = seed_mlp(x.shape[1], seed=1)
        loss = call(train_step, model, keras.optimizers.SGD(lr), x, y, clip, case=label)
        got = [v.numpy() for v in model.trainable_variables]
        if same(got, outcomes["right"], rtol=1e-4, atol=1e-6):
            if loss is None or not np.isclose(float(as_array(loss, "the loss")), outcomes["loss"], rtol=1e-4):
                fail("the weights are right; now return the loss of the batch, computed before the update.")
            continue
        if same(got, outcomes["unchanged"]):
            fail("the weights did not change: apply the clipped gradients with optimizer.apply(grads, variables).")
        if same(got, outcomes["unclipped"], rtol=1e-4, atol=1e-6):
            fail(f"on {label} the optimizer applied the unclipped gradient: clip between tape.gradient and "
                 "optimizer.apply (clipping after the update changes nothing).")
        if same(got, outcomes["per_tensor"], rtol=1e-4, atol=1e-6):
            fail("you clipped each tensor on its own norm; the global norm spans all tensors.")
        if same(got, outcomes["value"], rtol=1e-4, atol=1e-6):
            fail("you clipped each entry (value clipping); clip the global norm of all gradients together.")
        fail(f"on {label} the weights after your step differ from one SGD step on the globally clipped "
             "gradient. Order: loss inside the tape, tape.gradient, clip, optimizer.apply.")
    return "forward pass and loss in the tape, gradient, global clip, apply: the weights match."


@checker
def check_keras_optimizer(make_clipping_sgd: Callable[[float, float], keras.optimizers.Optimizer]) -> str:
    """Exercise: ``make_clipping_sgd(lr, threshold)`` -> a Keras SGD clipping as ``gh.train(clipper="global_norm")``."""
    lr, clip = 0.05, 1.5
    optimizer = call(make_clipping_sgd, lr, clip)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        fail(f"return a Keras optimizer, got {type(optimizer).__name__}.")
    if getattr(optimizer, "clipnorm", None):
        fail("clipnorm clips each tensor on its own (per-tensor); gh.train's 'global_norm' spans all tensors.")
    if getattr(optimizer, "clipvalue", None):
        fail("clipvalue clips each entry; gh.train's 'global_norm' scales all gradients by one factor.")
    if not getattr(optimizer, "global_clipnorm", None):
        fail("this optimizer does not clip: Keras optimizers take a clipping argument.")
    x, y = step_data(12, 100.0)
    outcomes = step_outcomes(x, y, lr, clip)
    model = seed_mlp(x.shape[1], seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    if not same([v.numpy() for v in model.trainable_variables], outcomes["right"], rtol=1e-4, atol=1e-6):
        fail(f"one step of your optimizer does not match SGD({lr:g}) on the gradient clipped at {clip:g}: "
             "check the learning rate and the threshold you pass.")
    return f"{type(optimizer).__name__}(global_clipnorm={optimizer.global_clipnorm:g}) clips the global norm."

