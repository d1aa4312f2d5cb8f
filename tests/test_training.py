"""train(), History and the Keras fit path."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import gradclip_helpers as gh
from gradclip_helpers import training


@pytest.fixture(scope="module")
def data():
    return gh.make_regression(n_samples=256, seed=0)


def _sgd_run(data, **kwargs):
    kwargs.setdefault("optimizer", keras.optimizers.SGD(0.01))
    kwargs.setdefault("progress", False)
    return gh.train(gh.seed_mlp(20, seed=0), (data.x_train, data.y_train), **kwargs)


def test_records_every_step_and_epoch(data):
    h = _sgd_run(data, clipper="global_norm", threshold=5.0, epochs=3, batch_size=32,
                 validation_data=(data.x_test, data.y_test), metrics=["mae"])
    assert h.steps == 3 * 4
    for name in ("loss", "grad_norm", "clipped_norm", "clipped", "applied"):
        assert getattr(h, name).shape == (12,)
    assert set(h.epochs) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 for v in h.epochs.values())
    assert h.diverged_at is None and h.applied.all()
    assert np.all(h.clipped_norm <= 5.0 * (1 + 1e-5))
    np.testing.assert_array_equal(h.clipped, h.grad_norm > 5.0)
    assert h.method == "global_norm" and h.threshold == 5.0
    assert h.epochs["val_loss"][-1] < h.epochs["val_loss"][0]


def test_compiled_once_per_run(data):
    h = _sgd_run(data, epochs=4, steps_per_call=3, clipper="norm", threshold=5.0)
    assert h.steps == 16
    assert h.traces == 1
    ds = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(50)
    h2 = gh.train(gh.seed_mlp(20, seed=0), ds, optimizer=keras.optimizers.SGD(0.001), epochs=3, progress=False)
    assert h2.steps == 3 * 3 and h2.traces == 1


def test_dataset_and_arrays_give_the_same_run(data):
    ds = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(32)
    a = _sgd_run(data, clipper="value", threshold=1.0, epochs=2, shuffle=False)
    b = gh.train(gh.seed_mlp(20, seed=0), ds, optimizer=keras.optimizers.SGD(0.01),
                 clipper="value", threshold=1.0, epochs=2, progress=False)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)


def test_layer_norms_add_up_to_the_global_norm(data):
    h = _sgd_run(data, epochs=1, record_layer_norms=True, clipper="global_norm", threshold=1.0)
    assert h.layer_norms.shape == (h.steps, 6)
    assert len(h.variable_names) == 6 and "kernel" in h.variable_names[0]
    np.testing.assert_allclose(np.sqrt((h.layer_norms ** 2).sum(axis=1)), h.grad_norm, rtol=1e-4)


def test_unclipped_sgd_diverges_and_stops(data):
    model = gh.seed_mlp(20, seed=0)
    h = gh.train(model, (data.x_train, data.y_train), optimizer=keras.optimizers.SGD(0.01),
                 epochs=20, progress=False)
    assert h.diverged and h.diverged_at < 20
    assert h.steps == h.diverged_at + 1  # stopped at the bad step
    assert not h.applied[h.diverged_at]
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)


def _poisoned(data):
    y = data.y_train[:64].copy()
    y[10] = np.nan  # every epoch, the batch holding row 10 has a NaN loss
    return data.x_train[:64], y


def test_skip_policy_skips_and_counts(data):
    model = gh.seed_mlp(20, seed=0)
    h = gh.train(model, _poisoned(data), optimizer=keras.optimizers.SGD(0.001), epochs=3,
                 batch_size=16, shuffle=False, nonfinite="skip", progress=False)
    assert h.steps == 12 and h.skipped_steps == 3
    assert list(np.flatnonzero(~h.applied)) == [0, 4, 8]
    assert h.diverged_at == 0
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)


def test_raise_policy_names_step_and_variables(data):
    with pytest.raises(FloatingPointError, match=r"step 0 .*non-finite gradients for: .*kernel"):
        gh.train(gh.seed_mlp(20, seed=0), _poisoned(data), optimizer=keras.optimizers.SGD(0.001),
                 batch_size=16, shuffle=False, nonfinite="raise", progress=False)


def test_interrupt_returns_history_so_far(data, monkeypatch):
    class InterruptingBar:
        def __init__(self, *args, **kwargs):
            self.calls = 0

        def update(self, n):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

        def set_postfix(self, **kwargs):
            pass

        def close(self):
            pass

    monkeypatch.setattr(training, "tqdm", InterruptingBar)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        h = _sgd_run(data, epochs=5, steps_per_call=2, clipper="global_norm", threshold=5.0)
    assert h.interrupted and h.steps == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nonfinite": "ignore"}, "nonfinite must be one of"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": -3}, "batch_size must be a positive integer"),
        ({"clipper": "clip_everything", "threshold": 1.0}, "unknown clipping method"),
        ({"clipper": "global_norm", "threshold": float("nan")}, "threshold must be a finite number"),
    ],
)
def test_bad_arguments(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _sgd_run(data, **kwargs)


def test_bad_data():
    model = gh.seed_mlp(20, seed=0)
    opt = keras.optimizers.SGD(0.01)
    with pytest.raises(ValueError, match="empty"):
        gh.train(model, (np.zeros((0, 20)), np.zeros((0, 1))), optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        gh.train(model, (np.zeros((10, 20)), np.zeros((9, 1))), optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="empty Dataset"):
        gh.train(model, tf.data.Dataset.from_tensor_slices((np.zeros((0, 20)), np.zeros((0, 1)))).batch(2),
                 optimizer=opt, progress=False)


def test_double_clipping_is_refused(data):
    with pytest.raises(ValueError, match="would clip again"):
        _sgd_run(data, optimizer=keras.optimizers.SGD(0.01, clipnorm=1.0), clipper="norm", threshold=1.0)


def test_history_to_dict_is_json(data):
    h = _sgd_run(data, epochs=1, clipper="value", threshold=1.0)
    d = json.loads(json.dumps(h.to_dict()))
    assert d["method"] == "value" and len(d["loss"]) == h.steps and d["traces"] == 1


def test_loss_scale_optimizer_clips_unscaled_gradients(data):
    """Clipping after unscaling: the same weights as without loss scaling."""
    plain = gh.seed_mlp(20, seed=0)
    scaled = gh.seed_mlp(20, seed=0)
    common = dict(clipper="global_norm", threshold=5.0, epochs=2, shuffle=False, progress=False)
    h1 = gh.train(plain, (data.x_train, data.y_train), optimizer=keras.optimizers.SGD(0.01), **common)
    lso = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01))
    h2 = gh.train(scaled, (data.x_train, data.y_train), optimizer=lso, **common)
    np.testing.assert_allclose(h1.grad_norm, h2.grad_norm, rtol=1e-4)
    for a, b in zip(plain.get_weights(), scaled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# The Keras path reaches the same weights


@pytest.mark.parametrize(("method", "threshold"), [("value", 1.0), ("norm", 5.0), ("global_norm", 5.0)])
def test_custom_loop_matches_keras_fit(data, method, threshold):
    steps_data = (data.x_train[:128], data.y_train[:128])
    ours = gh.seed_mlp(20, seed=1)
    gh.train(ours, steps_data, optimizer=keras.optimizers.SGD(0.01), clipper=method,
             threshold=threshold, epochs=3, batch_size=32, shuffle=False, progress=False)

    keras_opt = gh.seed_mlp(20, seed=1)
    keras_opt.compile(optimizer=gh.make_optimizer("sgd", 0.01, method, threshold), loss="mse")
    keras_opt.fit(*steps_data, epochs=3, batch_size=32, shuffle=False, verbose=0)

    wrapped_inner = gh.seed_mlp(20, seed=1)
    wrapped = gh.ClippingModel(wrapped_inner, method, threshold)
    wrapped.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    logs = wrapped.fit(*steps_data, epochs=3, batch_size=32, shuffle=False, verbose=0).history

    for a, b, c in zip(ours.get_weights(), keras_opt.get_weights(), wrapped_inner.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    assert set(logs) == {"loss", "mae", "grad_norm", "step_grad_norm", "clip_rate"}
    assert logs["clip_rate"][-1] == pytest.approx(1.0)


def test_clipping_model_grad_norm_matches_history(data):
    xy = (data.x_train[:64], data.y_train[:64])
    h = gh.train(gh.seed_mlp(20, seed=2), xy, optimizer=keras.optimizers.SGD(0.01), clipper="global_norm",
                 threshold=5.0, batch_size=64, shuffle=False, progress=False)
    m = gh.ClippingModel(gh.seed_mlp(20, seed=2), "global_norm", 5.0)
    m.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    logs = m.fit(*xy, batch_size=64, shuffle=False, verbose=0).history
    assert logs["grad_norm"][0] == pytest.approx(float(h.grad_norm[0]), rel=1e-5)


def test_make_optimizer():
    opt = gh.make_optimizer("adam", 1e-3, "global_norm", 1.0)
    assert isinstance(opt, keras.optimizers.Adam) and opt.global_clipnorm == 1.0
    assert gh.make_optimizer("sgd", 0.1).clipnorm is None


@pytest.mark.parametrize("method", ["value", "norm", "global_norm"])
def test_accumulation_clips_once_like_one_large_batch(data, method):
    xy = (data.x_train[:128], data.y_train[:128])
    big, accumulated = gh.seed_mlp(20, seed=3), gh.seed_mlp(20, seed=3)
    common = dict(clipper=method, threshold=1.0, epochs=2, batch_size=64, shuffle=False, progress=False)
    h1 = gh.train(big, xy, optimizer=keras.optimizers.SGD(0.01), **common)
    h4 = gh.train(accumulated, xy, optimizer=keras.optimizers.SGD(0.01), accumulation_steps=4, **common)
    assert h1.steps == h4.steps == 4
    np.testing.assert_allclose(h1.grad_norm, h4.grad_norm, rtol=1e-5)
    np.testing.assert_allclose(h1.loss, h4.loss, rtol=1e-5)
    for a, b in zip(big.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_strategy_must_own_the_model(data):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ValueError, match="strategy.scope"):
        _sgd_run(data, strategy=strategy)


@pytest.mark.slow
def test_mirrored_strategy_clips_after_the_all_reduce():
    """Two logical CPUs: train() clips the same global norm as one device; Keras 3 does not."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("distributed_check.py")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["norm_mirrored"] == pytest.approx(result["norm_single"], rel=1e-6)
    assert result["max_weight_diff"] < 1e-6
    assert result["keras_update_norm_single"] == pytest.approx(1.0, rel=1e-5)
    # Measured fact (Keras 3.15): global_clipnorm clips each replica's gradient before summing.
    assert result["keras_update_norm_mirrored"] > 1.2
    # A text classifier (sparse Embedding gradients) through train() and ClippingModel.fit: the
    # clipped update (learning rate 1) has norm 0.01 on one device and on two.
    for path in ("train", "fit"):
        assert result[f"text_{path}_update_single"] == pytest.approx(0.01, rel=1e-4)
        assert result[f"text_{path}_update_mirrored"] == pytest.approx(0.01, rel=1e-4)
    assert result["text_max_weight_diff"] < 1e-6


def test_metrics_are_exact_per_epoch_and_validation(data):
    model = gh.seed_mlp(20, seed=0)
    h = gh.train(model, (data.x_train, data.y_train), optimizer=keras.optimizers.SGD(0.01), clipper="global_norm",
                 threshold=5.0, epochs=3, metrics=["mae"], validation_data=(data.x_test, data.y_test), progress=False)
    predicted = model.predict(data.x_test, verbose=0)
    assert h.epochs["val_mae"][-1] == pytest.approx(np.mean(np.abs(predicted - data.y_test)), rel=1e-4)
    assert h.epochs["val_loss"][-1] == pytest.approx(np.mean((predicted - data.y_test) ** 2), rel=1e-4)
    as_object = _sgd_run(data, metrics=[keras.metrics.MeanAbsoluteError(name="abs_error")], epochs=3,
                         clipper="global_norm", threshold=5.0)
    np.testing.assert_allclose(as_object.epochs["abs_error"], h.epochs["mae"], rtol=1e-6)


def test_trainer_advances_in_chunks_and_swaps_clippers(data):
    trainer = gh.Trainer(gh.seed_mlp(20, seed=0), (data.x_train, data.y_train),
                         optimizer=keras.optimizers.SGD(0.01), clipper="global_norm", threshold=5.0)
    assert trainer.advance(3) == 3 and trainer.epochs_done == 0
    assert trainer.advance(10) == 1 and trainer.epochs_done == 1  # stops at the epoch's end
    with pytest.raises(ValueError, match="unknown clipping method"):
        trainer.set_clipper("nope", 1.0)
    assert trainer.clipper.method == "global_norm"  # bad input changes nothing
    trainer.set_clipper("value", 1.0)
    trainer.advance(4)
    h = trainer.history
    assert h.steps == 8 and h.method == "value" and h.traces == 2
    assert np.all(h.clipped_norm[:4] <= 5.0 * (1 + 1e-5))


def test_tensorboard_events_equal_the_history(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    h = _sgd_run(data, clipper="global_norm", threshold=5.0, epochs=2, log_dir=str(tmp_path / "run"),
                 validation_data=(data.x_test, data.y_test))
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"tensors": 0}).Reload()

    def series(tag):
        return np.array([tf.make_ndarray(e.tensor_proto) for e in events.Tensors(tag)], dtype=float)

    np.testing.assert_allclose(series("loss"), h.loss, rtol=1e-6)
    np.testing.assert_allclose(series("grad_norm/before_clipping"), h.grad_norm, rtol=1e-6)
    np.testing.assert_allclose(series("grad_norm/after_clipping"), h.clipped_norm, rtol=1e-6)
    np.testing.assert_array_equal(series("grad_norm/clipped"), h.clipped.astype(float))
    np.testing.assert_allclose(series("epoch/val_loss"), h.epochs["val_loss"], rtol=1e-6)
    assert len(events.Tensors("grad_norm/per_variable")) == h.steps
    assert h.layer_norms is not None


def test_unwritable_log_dir_is_a_clear_error_before_training(data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="cannot be written"):
        _sgd_run(data, log_dir=str(blocker / "run"))


def test_keras_tensorboard_callback_gets_the_grad_norm(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = gh.ClippingModel(gh.seed_mlp(20, seed=0), "global_norm", 5.0)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    logs = model.fit(data.x_train, data.y_train, epochs=2, verbose=0,
                     callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "keras"))]).history
    events = EventAccumulator(str(tmp_path / "keras" / "train"), size_guidance={"tensors": 0}).Reload()
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch_grad_norm")]
    np.testing.assert_allclose(values, logs["grad_norm"], rtol=1e-6)
