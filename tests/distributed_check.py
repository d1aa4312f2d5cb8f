"""Run in a fresh process: one step on two logical CPUs against one device.

TensorFlow's logical devices must be configured before it initialises, so the
test runs this file with ``python tests/distributed_check.py`` and reads the
JSON it prints.
"""

import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import gradclip_helpers as gh  # noqa: E402


def main() -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    data = gh.make_regression(n_samples=128, seed=0)
    xy = (data.x_train[:64], data.y_train[:64])
    common = dict(clipper="global_norm", threshold=1.0, batch_size=64, shuffle=False, progress=False)

    single = gh.seed_mlp(20, seed=0)
    h_single = gh.train(single, xy, optimizer=keras.optimizers.SGD(0.01), **common)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = gh.seed_mlp(20, seed=0)
        optimizer = keras.optimizers.SGD(0.01)
    h_mirrored = gh.train(mirrored, xy, optimizer=optimizer, strategy=strategy, **common)


    def update_norm(model, start):
        return float(np.sqrt(sum(np.sum((w - s) ** 2) for w, s in zip(model.get_weights(), start))))


    # What Keras 3's own global_clipnorm does under the strategy (lr 1: the update is the clipped gradient).
    start = gh.seed_mlp(20, seed=0).get_weights()
    keras_single = gh.seed_mlp(20, seed=0)
    keras_single.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=1.0), loss="mse")
    keras_single.fit(*xy, batch_size=64, shuffle=False, verbose=0)
    with strategy.scope():
        keras_mirrored = gh.seed_mlp(20, seed=0)
        keras_mirrored.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=1.0), loss="mse")
    keras_mirrored.fit(*xy, batch_size=64, shuffle=False, verbose=0)

    # The text classifier (Embedding: sparse gradients with repeated rows) through train() and
    # ClippingModel.fit: one global-norm-clipped step at learning rate 1, so the update is the clipped gradient.
    sys.path.insert(0, os.path.dirname(__file__))
    from zoo import FAMILIES  # noqa: E402

    text = FAMILIES["text"]
    x, y = text.data
    text_common = dict(loss=text.loss, clipper="global_norm", threshold=0.01, batch_size=48, shuffle=False,
                       progress=False)


    def text_updates(strategy):
        scope = strategy.scope if strategy else contextlib.nullcontext
        with scope():
            trained, start = text.model(seed=0), text.model(seed=0).get_weights()
            optimizer = keras.optimizers.SGD(1.0)
        gh.train(trained, (x, y), optimizer=optimizer, strategy=strategy, **text_common)
        with scope():
            inner = text.model(seed=0)
            wrapped = gh.ClippingModel(inner, "global_norm", 0.01)
            wrapped.compile(optimizer=keras.optimizers.SGD(1.0), loss=text.loss)
        wrapped.fit(x, y, batch_size=48, shuffle=False, verbose=0)
        return update_norm(trained, start), update_norm(inner, start), trained.get_weights(), inner.get_weights()


    text_single = text_updates(None)
    text_mirrored = text_updates(strategy)

    print(json.dumps({
        "text_train_update_single": text_single[0],
        "text_train_update_mirrored": text_mirrored[0],
        "text_fit_update_single": text_single[1],
        "text_fit_update_mirrored": text_mirrored[1],
        "text_max_weight_diff": max(
            float(np.max(np.abs(a - b))) for i in (2, 3) for a, b in zip(text_single[i], text_mirrored[i])),
        "replicas": strategy.num_replicas_in_sync,
        "norm_single": float(h_single.grad_norm[0]),
        "norm_mirrored": float(h_mirrored.grad_norm[0]),
        "max_weight_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights())),
        "keras_update_norm_single": update_norm(keras_single, start),
        "keras_update_norm_mirrored": update_norm(keras_mirrored, start),
    }))


if __name__ == "__main__":  # not on import (pytest's doctest collection imports it)
    main()
