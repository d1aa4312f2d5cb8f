"""The live training dashboard, driven from Python as a learner drives it in the browser.

Buttons are pressed with ``.click()`` and the method and threshold set through the
controls' ``.value``, exactly the calls the browser's messages turn into. Training
runs in the dashboard's background thread; ``pace`` slows it so a pause lands mid-run.
What the live redraws cost in wall-clock time is measured by ``benchmarks/dashboard.py`` (too
slow and too noisy on a shared machine for a test); here, that redraws are rationed.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

import gradclip_helpers as gh
from gradclip_helpers import dashboard
from gradclip_helpers.dashboard import TrainingDashboard, frontend_attached

EPOCHS = 4


@pytest.fixture(scope="module")
def data():
    return gh.make_regression(n_samples=256, seed=0)  # 128 training samples: 4 steps per epoch


def _dashboard(data, **kwargs) -> TrainingDashboard:
    kwargs = {"epochs": EPOCHS, "redraw_every": 2, **kwargs}
    return TrainingDashboard(lambda: gh.seed_mlp(20, seed=0), (data.x_train, data.y_train),
                             optimizer_fn=lambda: keras.optimizers.SGD(0.01), **kwargs)


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _advance_to(dash, steps: int) -> None:
    while dash.trainer.steps < steps:  # what Start would run, without the thread
        dash.trainer.advance(steps - dash.trainer.steps)


def _shown_png(dash) -> str:
    (output,) = dash.output.outputs
    return output["data"]["image/png"]


def test_starts_ready_with_an_empty_figure(data):
    dash = _dashboard(data)
    assert dash.status == "ready" and dash.history.steps == 0 and dash.draw_count == 1
    assert dash.figure.get_suptitle().startswith("Press Start: global norm at 5")
    assert dash.png.startswith(b"\x89PNG") and _shown_png(dash)
    assert dash.controls["start"].description == "Start" and not dash.controls["start"].disabled
    assert set(dash.controls["method"].options) == {"none", "value", "norm", "global_norm"}
    assert not frontend_attached()  # pytest: no notebook frontend


def test_start_pause_resume_run_in_a_thread_and_redraw(data):
    dash = _dashboard(data, pace=0.02, redraw_every=4)
    dash.controls["start"].click()
    assert dash.status == "running" and dash.controls["start"].description == "Pause"
    _wait_for(lambda: dash.trainer.steps >= 4)
    dash.controls["start"].click()  # pause
    assert dash.wait(20)
    paused_at = dash.history.steps
    assert dash.status == "paused" and 0 < paused_at < EPOCHS * 4
    assert dash.controls["start"].description == "Resume"
    shown = _shown_png(dash)
    assert dash.figure.axes[1].lines[0].get_ydata().size == paused_at  # the figure shows the run so far
    time.sleep(0.2)
    assert dash.history.steps == paused_at  # paused means paused

    dash.controls["start"].click()  # resume
    assert dash.wait(30)
    assert dash.status == "finished" and dash.controls["start"].disabled
    assert _shown_png(dash) != shown and dash.draw_count >= 3
    assert dash.figure.get_suptitle().startswith(f"global norm at 5, {EPOCHS} epochs: loss")
    assert not dash.start()  # a finished run does not start again
    # the dashboard trains exactly as train() does
    reference = gh.train(gh.seed_mlp(20, seed=0), (data.x_train, data.y_train),
                         optimizer=keras.optimizers.SGD(0.01), clipper="global_norm", threshold=5.0,
                         epochs=EPOCHS, progress=False)
    np.testing.assert_array_equal(dash.history.loss, reference.loss)


def test_method_and_threshold_take_effect_between_steps(data):
    dash = _dashboard(data, epochs=4)
    _advance_to(dash, 4)  # one epoch at 5.0
    draws = dash.draw_count
    dash.controls["threshold"].value = 2.0
    assert dash.error is None and dash.trainer.clipper.threshold == 2.0
    assert dash.changes == [(0, "global_norm", 5.0), (4, "global_norm", 2.0)]
    assert dash.draw_count == draws + 1  # not running: redrawn at once with the new threshold line
    levels = [seg[0, 1] for seg in dash.figure.axes[1].collections[0].get_segments()]
    assert levels == [5.0, 2.0]
    _advance_to(dash, 8)
    dash.controls["method"].value = "value"
    assert dash.changes[-1] == (8, "value", 2.0) and dash.trainer.clipper.method == "value"
    history = dash.run_to_end()
    assert history.steps == 16 and dash.status == "finished"
    after = history.clipped_norm
    assert after[:4].max() <= 5.0 * (1 + 1e-5) and 2.0 * 1.01 < after[:4].min()
    assert after[4:8].max() <= 2.0 * (1 + 1e-5)
    assert after[8:].max() > 10 * 2.0  # value clipping caps entries, not the norm


def test_bad_threshold_is_shown_and_the_setting_kept(data):
    dash = _dashboard(data)
    for bad in (-1.0, 0.0, float("nan"), float("inf")):
        dash.controls["threshold"].value = bad
        assert "threshold must be a finite number > 0" in dash.error and "kept global_norm at 5)" in dash.error
        assert dash.error in dash.message.value
        assert dash.trainer.clipper.threshold == 5.0 and dash.controls["threshold"].value == 5.0
        assert dash.changes == [(0, "global_norm", 5.0)]
    dash.controls["threshold"].value = 3.0  # a good value clears the message
    assert dash.error is None and dash.message.value == "" and dash.trainer.clipper.threshold == 3.0


def test_unknown_method_is_shown_and_the_setting_kept(data):
    dash = _dashboard(data)
    assert not dash.set_clipper("bogus", 1.0)
    assert "unknown method 'bogus'" in dash.error and dash.trainer.clipper.method == "global_norm"
    assert not dash.set_clipper("agc", 0.01)  # registered, but not offered by this dashboard
    assert dash.controls["method"].value == "global_norm"
    with pytest.raises(ValueError, match="not among methods"):
        _dashboard(data, method="bogus")


def test_reset_gives_new_weights_a_fresh_optimizer_and_an_empty_history(data):
    dash = _dashboard(data, epochs=2)
    first = dash.run_to_end()
    dash.controls["threshold"].value = 1.0
    dash.controls["reset"].click()
    assert dash.status == "ready" and dash.history.steps == 0 and not dash.controls["start"].disabled
    assert dash.changes == [(0, "global_norm", 1.0)]  # the setting in force is kept
    assert dash.figure.get_suptitle().startswith("Press Start: global norm at 1")
    fresh = gh.seed_mlp(20, seed=0)
    for a, b in zip(dash.trainer.model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(dash.trainer.optimizer.iterations.numpy()) == 0
    dash.controls["threshold"].value = 5.0
    np.testing.assert_array_equal(dash.run_to_end().loss, first.loss)  # same start, same batches


def test_show_without_a_frontend_trains_to_the_end(data, capsys):
    dash = _dashboard(data, epochs=2)
    dash.show()
    assert not dash.live and dash.status == "finished" and dash.history.steps == 8
    assert "TrainingDashboard(finished: global_norm at 5, 8 steps)" in capsys.readouterr().out


def test_a_diverging_run_stops_and_says_so(data):
    dash = _dashboard(data, method="none")
    history = dash.run_to_end()
    assert dash.status == "stopped" and history.diverged and dash.controls["start"].disabled
    assert f"non-finite at step {history.diverged_at}" in dash.figure.get_suptitle()


def test_redraws_are_rationed_to_a_share_of_the_training_time(data, monkeypatch):
    # Drawing made slow on purpose (50 ms, about a third of a real redraw): redrawn after every
    # one-step chunk, 160 steps would spend 8 s drawing for well under 1 s of training.
    def slow_png(fig):
        time.sleep(0.05)
        return b"\x89PNG"

    monkeypatch.setattr(dashboard, "_png", slow_png)
    dash = _dashboard(data, epochs=40, redraw_every=1)
    assert dash.start() and dash.wait(60) and dash.status == "finished"
    assert dash.history.steps == 160 and dash.draw_count < 15
    final = dash._last_draw_seconds  # the last picture is the result, not overhead
    assert dash.draw_seconds - final <= 0.25 * dash.train_seconds, (dash.draw_seconds, dash.train_seconds)
