"""Run in a fresh process: one step on two logical CPUs against one device.

TensorFlow's logical devices must be configured before it initialises, so the
test runs this file with ``python tests/distributed_check.py`` and reads the
JSON it prints.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gradclip_helpers as gh  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

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

print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "norm_single": float(h_single.grad_norm[0]),
    "norm_mirrored": float(h_mirrored.grad_norm[0]),
    "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights())),
    "keras_update_norm_single": update_norm(keras_single, start),
    "keras_update_norm_mirrored": update_norm(keras_mirrored, start),
}))
