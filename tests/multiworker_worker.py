"""One process of a two-worker ``MultiWorkerMirroredStrategy`` run, started by ``test_multiworker.py``.

Every worker runs this same file; only ``TF_CONFIG`` (set by the launcher)
differs: the cluster's addresses and this process's index. With ``--single``
it runs the same training in one process without a strategy, as the
reference. It prints one JSON line: the per-step global gradient norms that
``gh.train`` clipped with, the final weights (a checksum and the values), the
targets this process trained on, and the norm of one step of a Keras
optimizer with its own ``global_clipnorm``.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gradclip_helpers as gh  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

N_SAMPLES = 256      # half for training: 128 samples
GLOBAL_BATCH = 32    # split across the workers by tf.distribute: 4 steps per epoch
EPOCHS = 2
THRESHOLD = 1.0      # far below the raw-target gradient norm, so every step is clipped


def main(single: bool) -> None:
    # Create the strategy first: it reads TF_CONFIG and starts this worker's
    # collective server before any other TensorFlow op runs.
    strategy = None if single else tf.distribute.MultiWorkerMirroredStrategy()
    scope = strategy or tf.distribute.get_strategy()   # the default strategy in the single process
    data = gh.make_regression(n_samples=N_SAMPLES, seed=0)
    with scope.scope():
        model = gh.seed_mlp(data.n_features, seed=0)
        optimizer = keras.optimizers.SGD(0.01)
    history = gh.train(model, (data.x_train, data.y_train), optimizer=optimizer, strategy=strategy,
                       clipper="global_norm", threshold=THRESHOLD, batch_size=GLOBAL_BATCH,
                       epochs=EPOCHS, shuffle=False, progress=False)
    weights = np.concatenate([w.ravel() for w in model.get_weights()]).astype(np.float64)
    # The targets this process trained on in each step of an epoch (gh.train batches the arrays the same way):
    # a worker must see its own part of every global batch, not all of it.
    batches = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(GLOBAL_BATCH)
    if strategy is not None:
        batches = strategy.experimental_distribute_dataset(batches)
    local_targets = [[float(v) for v in np.ravel(y if strategy is None else strategy.experimental_local_results(y)[0])]
                     for _, y in batches]
    # For comparison, Keras' own global_clipnorm, one step at learning rate 1 (so the weight change is
    # the gradient the optimizer let through), written as Keras' train_step does it: each replica's loss
    # divided by the replica count, then optimizer.apply in replica context. (model.fit itself fails
    # under MultiWorkerMirroredStrategy in Keras 3.15.1 / TF 2.21: its _maybe_symbolic_build calls
    # strategy.reduce on the (x, y) batch, which the collective strategy cannot convert.)
    with scope.scope():
        keras_model = gh.seed_mlp(data.n_features, seed=0)
        keras_opt = keras.optimizers.SGD(1.0, global_clipnorm=THRESHOLD)
        keras_opt.build(keras_model.trainable_variables)
    start = keras_model.get_weights()

    def keras_replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, keras_model(x, training=True)))
            loss = loss / tf.distribute.get_replica_context().num_replicas_in_sync
        grads = tape.gradient(loss, keras_model.trainable_variables)
        keras_opt.apply(grads, keras_model.trainable_variables)

    first = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(GLOBAL_BATCH).take(1)
    first = strategy.experimental_distribute_dataset(first) if strategy else first
    x, y = next(iter(first))
    tf.function(lambda x, y: scope.run(keras_replica_step, args=(x, y)))(x, y)
    keras_update = np.sqrt(sum(np.sum((w - s) ** 2) for w, s in zip(keras_model.get_weights(), start)))
    print(json.dumps({
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
        "local_targets": local_targets,
        "keras_update_norm": float(keras_update),
        "grad_norm": history.grad_norm.tolist(),
        "clipped_norm": history.clipped_norm.tolist(),
        "weights_sum": float(weights.sum()),
        "weights": weights.tolist(),
    }), flush=True)


if __name__ == "__main__":
    main(single="--single" in sys.argv[1:])
