"""train() takes what model.fit takes, or refuses it with an error that names the argument."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from zoo import FAMILIES

import gradclip_helpers as gh


def _opt():
    return keras.optimizers.SGD(0.05)


def test_metric_objects_equal_fit():
    text = FAMILIES["text"]
    common = dict(batch_size=16, shuffle=False, verbose=0)
    ours = text.model(seed=0)
    h = gh.train(ours, text.data, optimizer=_opt(), loss=text.loss, metrics=[keras.metrics.AUC(name="auc"), "accuracy"],
                 batch_size=16, shuffle=False, epochs=2, progress=False)
    theirs = text.model(seed=0)
    theirs.compile(optimizer=_opt(), loss=text.loss, metrics=[keras.metrics.AUC(name="auc"), "accuracy"])
    logs = theirs.fit(*text.data, epochs=2, **common).history
    for name in ("loss", "auc", "accuracy"):
        assert h.epochs[name] == pytest.approx(logs[name], rel=1e-5), name


def test_dataset_of_dict_inputs_and_weights_equals_arrays():
    family = FAMILIES["dict_inputs"]
    dataset = tf.data.Dataset.from_tensor_slices(family.data).batch(16)
    runs = []
    for data in (family.data, dataset):
        model = family.model(seed=0)
        gh.train(model, data, optimizer=_opt(), loss="mse", batch_size=16, shuffle=False, progress=False)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_integer_inputs_stay_integer():
    x, y = FAMILIES["text"].data
    dataset, _ = gh.training._as_dataset((x.astype(np.int64), y), 8, False, 0, "data")
    assert dataset.element_spec[0].dtype == tf.int64
    assert dataset.element_spec[1].dtype == tf.float32


def test_repeating_dataset_needs_steps_per_epoch():
    family = FAMILIES["regularised"]
    endless = tf.data.Dataset.from_tensor_slices(family.data).batch(8).repeat()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        gh.train(family.model(), endless, optimizer=_opt(), progress=False)
    h = gh.train(family.model(), endless, optimizer=_opt(), steps_per_epoch=4, epochs=3, progress=False)
    assert h.steps == 12 and len(h.epochs["loss"]) == 3
    unknown = tf.data.Dataset.from_tensor_slices(family.data).filter(lambda x, y: True).batch(8)
    with pytest.raises(ValueError, match="unknown length"):
        gh.train(family.model(), unknown, optimizer=_opt(), progress=False)


def test_regularisers_are_in_the_loss():
    family = FAMILIES["regularised"]
    model = family.model(seed=0)
    h = gh.train(model, family.data, optimizer=_opt(), batch_size=48, shuffle=False, progress=False)
    fresh = family.model(seed=0)
    x, y = family.data
    plain = float(keras.losses.mean_squared_error(y[:, 0], fresh(x)[:, 0]).numpy().mean())
    fresh(x)  # the activity regulariser's loss belongs to this call
    assert h.loss[0] == pytest.approx(plain + float(sum(fresh.losses)), rel=1e-5)


def test_accumulation_with_sparse_gradients_equals_one_batch():
    text = FAMILIES["text"]
    weights = []
    for steps in (1, 3):
        model = text.model(seed=0)
        gh.train(model, text.data, optimizer=_opt(), loss=text.loss, clipper="global_norm", threshold=0.01,
                 batch_size=48, accumulation_steps=steps, shuffle=False, progress=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_loss_scale_overflow_is_recorded_not_divergence():
    family = FAMILIES["mixed_float16"]
    optimizer = keras.optimizers.LossScaleOptimizer(_opt(), initial_scale=2.0**20)
    h = gh.train(family.model(), family.data, optimizer=optimizer, clipper="global_norm", threshold=1.0,
                 batch_size=2, progress=False)
    assert h.overflow[0] and not h.applied[0]
    assert h.overflow_steps >= 1 and h.diverged_at is None
    assert h.applied[-1] and not h.overflow[-1]  # the optimizer lowered its scale and went on


def test_spike_skipper_skips_every_injected_spike_and_nothing_else():
    rng = np.random.default_rng(0)
    norms = rng.normal(1.0, 0.05, 400).astype(np.float32)
    spikes = [120, 121, 200, 333]
    norms[spikes] = [8.0, 5.0, 12.0, 6.0]
    skipper = gh.SpikeSkipper(z=6.0, window=128, warmup=64)
    step = tf.function(skipper.check)
    skipped = [bool(step(tf.constant(n), tf.constant(1.0))) for n in norms]
    assert [i for i, s in enumerate(skipped) if s] == spikes


def test_spike_skipper_in_train_records_and_checkpoints(tmp_path):
    family = FAMILIES["regularised"]
    skipper = gh.SpikeSkipper(z=0.5, window=4, warmup=2)  # strict: some steps will be skipped
    h = gh.train(family.model(), family.data, optimizer=_opt(), batch_size=4, epochs=2, skip_spikes=skipper,
                 progress=False)
    assert h.spikes_skipped >= 1
    np.testing.assert_array_equal(h.applied, ~h.spike_skipped)
    path = tf.train.Checkpoint(skipper=skipper).save(str(tmp_path / "ckpt"))
    restored = gh.SpikeSkipper(z=0.5, window=4, warmup=2)
    tf.train.Checkpoint(skipper=restored).restore(path)
    assert int(restored.count) == int(skipper.count) == h.steps - h.spikes_skipped


# ---------------------------------------------------------------------------
# Refused, by name, and nothing half-applied

X, Y = FAMILIES["regularised"].data

BAD_TRAIN = [
    (dict(data=[1, 2, 3, 4]), ValueError, "data must be"),
    (dict(data=(X, Y[:-1])), ValueError, "x has 48 samples but y has 47"),
    (dict(data=(X, Y, np.ones(3))), ValueError, "sample_weight has 3"),
    (dict(data=(X[:0], Y[:0])), ValueError, "empty"),
    (dict(data=(np.array(["a"] * 48), Y)), TypeError, "data x must hold numbers"),
    (dict(data={"x": X}), ValueError, "not a dict alone"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), ValueError, "batch_size"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(steps_per_epoch=-1), ValueError, "steps_per_epoch"),
    (dict(steps_per_call=0), ValueError, "steps_per_call"),
    (dict(accumulation_steps=0), ValueError, "accumulation_steps"),
    (dict(nonfinite="ignore"), ValueError, "nonfinite"),
    (dict(clipper="clip"), ValueError, "unknown clipping method"),
    (dict(clipper="norm"), ValueError, "needs a threshold"),
    (dict(clipper="norm", threshold=float("nan")), ValueError, "threshold"),
    (dict(clipper="norm", threshold=float("inf")), ValueError, "threshold"),
    (dict(clipper="norm", threshold=-1.0), ValueError, "threshold"),
    (dict(clipper="norm", threshold=0.0), ValueError, "threshold"),
    (dict(clipper="norm", threshold="5"), ValueError, "threshold"),
    (dict(clipper=gh.NormClipper(1.0), threshold=5.0), ValueError, "threshold=5.0 conflicts"),
    (dict(optimizer="sgd"), TypeError, "optimizer must be"),
    (dict(optimizer=keras.optimizers.SGD(0.1, clipnorm=1.0), clipper="norm", threshold=1.0), ValueError,
     "clips by itself"),
    (dict(loss="not_a_loss"), ValueError, "unknown loss"),
    (dict(metrics="mae"), TypeError, "metrics must be a list"),
    (dict(metrics=["not_a_metric"]), ValueError, "unknown metric"),
    (dict(metrics=[3]), TypeError, "metrics entries"),
    (dict(validation_data=(X, Y[:3])), ValueError, "validation_data"),
    (dict(skip_spikes=3.0), TypeError, "skip_spikes"),
    (dict(strategy="mirrored"), TypeError, "strategy must be"),
    (dict(model="mlp"), TypeError, "model must be"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD_TRAIN, ids=[m for _, _, m in BAD_TRAIN])
def test_train_refuses_bad_input_and_changes_nothing(change, error, message):
    model = FAMILIES["regularised"].model(seed=0)
    optimizer = _opt()
    kwargs = dict(model=model, data=(X, Y), optimizer=optimizer, progress=False)
    kwargs.update(change)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(error, match=message):
        gh.train(kwargs.pop("model"), kwargs.pop("data"), **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert int(optimizer.iterations) == 0


def test_running_trainer_is_unchanged_by_a_refused_change():
    trainer = gh.Trainer(FAMILIES["regularised"].model(), (X, Y), optimizer=_opt(), clipper="value",
                         threshold=1.0, batch_size=8)
    trainer.advance(2)
    weights = [w.copy() for w in trainer.model.get_weights()]
    for bad in (("norm", -1.0), ("nope", 1.0), (gh.NormClipper(1.0), 2.0)):
        with pytest.raises(ValueError):
            trainer.set_clipper(*bad)
    with pytest.raises(ValueError, match="max_steps"):
        trainer.advance(0)
    assert trainer.clipper.method == "value" and trainer.clipper.threshold == 1.0 and trainer.steps == 2
    assert all(np.array_equal(a, b) for a, b in zip(weights, trainer.model.get_weights()))


BAD_CALLS = [
    (lambda: gh.clip_by_value([tf.ones(2)], 0), ValueError, "clip_value"),
    (lambda: gh.clip_by_value(tf.ones(2), 1.0), TypeError, "wrap it in a list"),
    (lambda: gh.clip_by_norm([tf.ones(2)], float("nan")), ValueError, "clip_norm"),
    (lambda: gh.clip_by_global_norm([tf.ones(2)], -3), ValueError, "clip_norm"),
    (lambda: gh.global_norm(tf.ones(2)), TypeError, "wrap it in a list"),
    (lambda: gh.make_clipper("l2", 1.0), ValueError, "unknown clipping method"),
    (lambda: gh.make_clipper(3, 1.0), ValueError, "unknown clipping method"),
    (lambda: gh.make_clipper(gh.ValueClipper(1.0), 2.0), ValueError, "conflicts"),
    (lambda: gh.NormClipper(1.0).clip([tf.ones(2)], [tf.Variable(1.0), tf.Variable(2.0)]), ValueError,
     "1 gradients for 2 variables"),
    (lambda: gh.make_optimizer("sgd", 0.01, "global_norm", 5.0, clipnorm=1.0), ValueError, "clipnorm"),
    (lambda: gh.make_optimizer("sgd", 0.01, None, None, clipnorm=1.0, global_clipnorm=1.0), ValueError,
     "clipnorm and global_clipnorm"),
    (lambda: gh.make_optimizer("sgd", 0.01, "norm"), ValueError, "needs a threshold"),
    (lambda: gh.ClippingModel(keras.Sequential(), "norm", 0.0), ValueError, "threshold"),
    (lambda: gh.SpikeSkipper(z=0), ValueError, "z must be"),
    (lambda: gh.SpikeSkipper(window=1), ValueError, "window"),
    (lambda: gh.SpikeSkipper(window=10, warmup=20), ValueError, "warmup"),
    (lambda: gh.SpikeSkipper(use_loss="yes"), TypeError, "use_loss"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS, ids=[m for _, _, m in BAD_CALLS])
def test_public_functions_refuse_bad_input_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_clipping_model_refuses_an_optimizer_that_clips_too():
    model = gh.ClippingModel(FAMILIES["regularised"].model(), "norm", 1.0)
    with pytest.raises(ValueError, match="clips by itself"):
        model.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=1.0), loss="mse")


@pytest.mark.parametrize("make_strategy", [lambda: tf.distribute.MirroredStrategy(["/cpu:0"]),
                                           lambda: tf.distribute.OneDeviceStrategy("/cpu:0")],
                         ids=["mirrored_one_device", "one_device"])
def test_one_device_strategies_equal_no_strategy(make_strategy):
    family = FAMILIES["regularised"]
    strategy = make_strategy()
    with strategy.scope():
        model, optimizer = family.model(seed=0), _opt()
    gh.train(model, family.data, optimizer=optimizer, strategy=strategy, clipper="global_norm", threshold=0.1,
             batch_size=16, shuffle=False, progress=False)
    plain = family.model(seed=0)
    gh.train(plain, family.data, optimizer=_opt(), clipper="global_norm", threshold=0.1, batch_size=16,
             shuffle=False, progress=False)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
