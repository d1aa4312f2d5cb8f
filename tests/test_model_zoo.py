"""The model zoo: every family a learner brings trains through ``train()`` with every clipper,
and where Keras can clip the same way the weights and logs equal ``model.fit``'s.

One class per family, so pytest-xdist's ``loadscope`` spreads the families over workers.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from zoo import FAMILIES

import gradclip_helpers as gh

KERAS_CLIPPABLE = ("none", "value", "norm", "global_norm")
ADAPTIVE = {"agc": 0.01, "autoclip": 0.3, "zclip": None}
LR, BATCH = 0.05, 16  # 48 samples: three unshuffled steps


def _split(data):
    x, y, *weights = data
    return x, y, (weights[0] if weights else None)


def _first_gradients(family):
    """The dense gradient of the first batch, to set thresholds at which clipping surely acts."""
    model = family.model(seed=0)
    model.compile(loss=family.loss)
    x, y, weights = (tf.nest.map_structure(lambda a: None if a is None else a[:BATCH], part)
                     for part in _split(family.data))
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), sample_weight=weights)
    return [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables) if g is not None]


def _threshold(family, method):
    grads = _first_gradients(family)
    if method == "value":
        return 0.5 * max(float(tf.reduce_max(tf.abs(g))) for g in grads)
    if method == "norm":
        return 0.5 * max(float(tf.norm(g)) for g in grads)
    return 0.5 * float(gh.global_norm(grads)) if method == "global_norm" else None


def _train(family, method, threshold):
    model = family.model(seed=0)
    history = gh.train(model, family.data, optimizer=family.optimizer(keras.optimizers.SGD(LR)),
                       loss=family.loss, metrics=family.metrics, clipper=method, threshold=threshold,
                       batch_size=BATCH, shuffle=False, progress=False)
    return model, history


def _fit(family, method, threshold):
    model = family.model(seed=0)
    model.compile(optimizer=family.optimizer(gh.make_optimizer("sgd", LR, method, threshold)),
                  loss=family.loss, metrics=family.metrics)
    x, y, weights = _split(family.data)
    logs = model.fit(x, y, sample_weight=weights, batch_size=BATCH, shuffle=False, verbose=0).history
    return model, logs


def _keras_clipping_of_dense_gradients(family, method, threshold):
    """Keras' own clipping code (the optimizer's clip argument), given the dense gradient.

    Keras 3.15 clips ``tf.IndexedSlices`` row by row before repeated rows are
    summed (``test_keras_clips_unmerged_rows``), so for Embedding models fit
    clips something other than the gradient; this is what it would do with
    the gradient itself, the reference for ``train()`` there.
    """
    model = family.model(seed=0)
    optimizer = family.optimizer(gh.make_optimizer("sgd", LR, method, threshold))
    model.compile(optimizer=optimizer, loss=family.loss)
    x, y, weights = _split(family.data)
    for start in range(0, len(y), BATCH):
        part = slice(start, start + BATCH)
        xb, yb, wb = (tf.nest.map_structure(lambda a, part=part: None if a is None else a[part], p)
                      for p in (x, y, weights))
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=xb, y=yb, y_pred=model(xb, training=True), sample_weight=wb)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        grads = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        optimizer.apply(grads, model.trainable_variables)
    return model


def _family_tests(family):
    class ZooFamily:
        @pytest.mark.parametrize("method", KERAS_CLIPPABLE)
        def test_same_weights_and_logs_as_fit(self, method):
            threshold = _threshold(family, method)
            ours, history = _train(family, method, threshold)
            keras_model, logs = _fit(family, method, threshold)
            assert history.steps == 3 and history.applied.all() and np.isfinite(history.grad_norm).all()
            if method != "none":
                assert history.clipped.any(), "the threshold should make clipping act"
            if method != "none" and family.embedding:
                keras_model = _keras_clipping_of_dense_gradients(family, method, threshold)
            for a, b in zip(ours.get_weights(), keras_model.get_weights()):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            assert set(logs) == set(history.epochs)
            if method == "none" or not family.embedding:
                for name, values in logs.items():
                    assert history.epochs[name] == pytest.approx(values, rel=1e-5), name

        @pytest.mark.parametrize("method", list(ADAPTIVE))
        def test_adaptive_clippers_train(self, method):
            model, history = _train(family, method, ADAPTIVE[method])
            assert history.steps == 3 and history.applied.all()
            assert np.isfinite(history.loss).all() and np.isfinite(history.grad_norm).all()
            assert all(np.isfinite(w).all() for w in model.get_weights())

    ZooFamily.__name__ = ZooFamily.__qualname__ = f"TestZoo_{family.name}"
    return ZooFamily


for _family in FAMILIES.values():
    globals()[f"TestZoo_{_family.name}"] = _family_tests(_family)


def test_keras_clips_unmerged_rows():
    """Measured fact (Keras 3.15): all three clip arguments treat repeated IndexedSlices rows as separate.

    The gradient below is [4, 2] (rows 0, 0, 1); Keras measures sqrt(9 + 1 + 4) = 3.74
    instead of 4.47, so "clipped to norm 1" leaves it at norm 1.20; gh measures and clips the gradient.
    """
    grad = tf.IndexedSlices(tf.constant([[3.0], [1.0], [2.0]]), tf.constant([0, 0, 1]), tf.constant([4, 1]))
    dense_norm = float(tf.norm(tf.convert_to_tensor(grad)))
    for kwargs in ({"global_clipnorm": 1.0}, {"clipnorm": 1.0}):
        keras_clipped = keras.optimizers.SGD(1.0, **kwargs)._clip_gradients([grad])[0]
        assert float(tf.norm(tf.convert_to_tensor(keras_clipped))) == pytest.approx(1.195, abs=1e-3)
    assert float(gh.global_norm([grad])) == pytest.approx(dense_norm)
    ours, _ = gh.clip_by_global_norm([grad], 1.0)
    assert float(tf.norm(tf.convert_to_tensor(ours[0]))) == pytest.approx(1.0)
