"""Notebook 08's pieces: the counting language and its model, loss spikes, Adam's sqrt(v), x**4, the checkers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradclip_helpers as gh


def test_counting_language_follows_its_rule_and_masks_the_first_target():
    x, y = gh.sequence.counting_language(50, length=8, seed=3)
    size = len(gh.sequence.LETTERS)
    letters = np.argmax(x[:, :, :size], axis=-1)
    steps = (letters[:, 1] - letters[:, 0]) % size
    assert np.all(steps > 0)
    assert np.array_equal(letters, (letters[:, :1] + steps[:, None] * np.arange(8)) % size)
    assert np.all(y[:, 0] == gh.sequence.IGNORE)
    assert np.array_equal(y[:, 1:], (letters[:, 1:] + steps[:, None]) % size)
    assert np.array_equal(np.argmax(x[:, :, size:], axis=-1), np.tile(np.arange(8), (50, 1)))
    again, _ = gh.sequence.counting_language(50, length=8, seed=3)
    assert np.array_equal(x, again)


def test_transformer_is_causal():
    model = gh.sequence.tiny_transformer(length=6, width=8, seed=0)
    x, _ = gh.sequence.counting_language(2, length=6, seed=0)
    changed = x.copy()
    changed[:, 4:, :13] = np.roll(changed[:, 4:, :13], 1, axis=-1)  # change the letters at positions 4, 5
    before, after = model(x).numpy(), model(changed).numpy()
    np.testing.assert_allclose(before[:, :4], after[:, :4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:])


def test_masked_loss_ignores_the_first_position():
    loss = gh.sequence.sequence_loss()
    logits = np.zeros((1, 3, 13), np.float32)
    logits[0, 1, 5] = 50.0  # a confident right answer at position 1
    assert float(loss(np.array([[gh.sequence.IGNORE, 5, 7]]), logits)) == pytest.approx(np.log(13) / 2, rel=1e-5)


def test_every_injected_spike_is_found_and_no_normal_step():
    rng = np.random.default_rng(0)
    loss = 1.0 / np.sqrt(1 + np.arange(500)) + 0.01 * rng.random(500)
    injected = np.array([40, 120, 121, 300, 450])
    loss[injected] *= 5.0
    found = gh.spike_steps(loss, k=3, window=20)
    assert found.tolist() == injected.tolist()
    assert gh.count_spikes(loss, k=3, window=20) == 4  # 120 and 121 are one spike
    assert gh.count_spikes(np.full(100, 0.001) * (1 + 0.9 * rng.random(100)), k=2, window=10, floor=0.05) == 0
    assert gh.spike_steps([1.0] * 30 + [np.nan], k=3, window=20).tolist() == [30]


@pytest.mark.parametrize("k, window", [(1.0, 20), (3, 0), (3, 2.5)])
def test_spike_arguments_are_checked(k, window):
    with pytest.raises(ValueError):
        gh.spike_steps(np.ones(50), k=k, window=window)


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    dict(clipper="global_norm", threshold=1.0),
    dict(skip_spikes=gh.SpikeSkipper(z=1.0, window=8, warmup=4)),
])
def test_adam_trace_matches_the_optimizer(options):
    data = gh.make_regression(n_samples=640, seed=0)
    model = gh.seed_mlp(data.n_features, seed=0)
    optimizer = keras.optimizers.Adam(1e-2, beta_2=0.99)
    h = gh.train(model, (data.x_train, data.y_train), optimizer=optimizer, record_layer_norms=True,
                 shuffle=False, progress=False, **options)
    assert h.clipped.any() or not h.applied.all()  # the clipper or the skipper acted
    for i, variable in enumerate(model.trainable_variables):
        trace = gh.adam_rms_trace(h, i, int(np.prod(variable.shape)), beta_2=0.99)
        own = gh.adam_sqrt_v(optimizer, variable)
        assert own.shape == variable.shape
        assert trace[-1] == pytest.approx(np.sqrt(np.mean(own.astype(np.float64) ** 2)), rel=1e-3)


def test_adam_trace_refuses_what_it_cannot_reconstruct():
    h = gh.History(loss=np.ones(2), grad_norm=np.ones(2), clipped_norm=np.ones(2), clipped=np.zeros(2, bool),
                   applied=np.ones(2, bool), layer_norms=None, variable_names=["w"])
    with pytest.raises(ValueError, match="record_layer_norms"):
        gh.adam_rms_trace(h, 0, 1)
    with pytest.raises(ValueError, match="no second moment"):
        gh.adam_sqrt_v(keras.optimizers.Adam(), keras.Variable(np.ones(2)))


def test_quartic_gradient_descent_diverges_and_clipped_descent_converges():
    plain = gh.quartic.descend(3.0, lr=0.1, steps=20)
    clipped = gh.quartic.descend(3.0, lr=0.1, steps=60, threshold=1.0)
    assert not np.isfinite(plain[-1]) and np.all(np.abs(np.diff(plain[:3])) > 1)
    assert np.all(np.diff(np.abs(clipped)) <= 0) and abs(clipped[-1]) < 0.3
    small = gh.quartic.descend(0.5, lr=0.1, steps=20)  # where 0.1 * f''(x) < 2, no clipping needed
    assert np.all(np.diff(small) < 0) and small[-1] > 0
    assert gh.quartic.is_l0_l1_smooth(np.linspace(-50, 50, 501)).all()
    assert not (12 * 3.0 ** 2 <= gh.quartic.L0)  # no single L bounds the curvature: only L0 + L1 |f'|


def test_notebook_08_checkers_accept_the_answer_and_name_the_mistakes():
    ex = gh.exercises

    def spikes(loss, k, window):
        loss = np.asarray(loss)
        return [i for i in range(window, len(loss)) if loss[i] > k * np.median(loss[i - window:i])]

    def mean_spikes(loss, k, window):
        return [i for i in range(window, len(loss)) if loss[i] > k * np.mean(loss[i - window:i])]

    assert ex.check_spike_steps(spikes).passed
    assert "median" in ex.check_spike_steps(mean_spikes).message
    assert "off by one" in ex.check_spike_steps(lambda *a: [i + 1 for i in spikes(*a)]).message
    assert ex.check_threshold_for_clip_rate(lambda n, r: np.percentile(n, 100 * (1 - r))).passed
    assert "100 * (1 - rate)" in ex.check_threshold_for_clip_rate(lambda n, r: np.percentile(n, 100 * r)).message

    def adam_v(grads, beta_2):
        v = 0.0
        for g in grads:
            v = beta_2 * v + (1 - beta_2) * np.asarray(g) ** 2
        return v

    assert ex.check_adam_second_moment(adam_v).passed
    corrected = ex.check_adam_second_moment(lambda g, b: adam_v(g, b) / (1 - b ** len(g)))
    assert not corrected.passed and "bias correction" in corrected.message
    assert ex.check_adam_second_moment(None).message == ex.NOT_ATTEMPTED
