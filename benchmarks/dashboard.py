"""What watching a run live in ``gh.TrainingDashboard`` costs: the same training with and without it.

Both sides train the seed MLP with a ``Trainer`` ``redraw_every`` steps at a time for ``epochs``
epochs, after one warm-up step (the trace). Without the dashboard the run ends with one figure of
the result (``gh.plot_training_progress`` rendered to PNG: you would look at it anyway); with it,
the dashboard's own background thread (``start()``, then ``wait()``) trains and redraws between
chunks within its drawing budget (``max_overhead``), and draws the final figure. Each side is
timed in wall-clock seconds and in this process's CPU seconds; minimum of ``repeats``,
interleaved. ``overhead = dashboard_s / (plain_s + figure_s) - 1``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras

import gradclip_helpers as gh


@dataclass(frozen=True)
class DashboardConfig:
    """What the dashboard benchmark runs."""

    n_samples: int = 512        # 256 training samples: 8 steps per epoch at batch 32
    epochs: int = 20
    redraw_every: int = 16
    max_overhead: float = 0.1
    method: str = "global_norm"
    threshold: float = 5.0
    repeats: int = 2
    seed: int = 0

    def with_(self, **changes) -> DashboardConfig:
        return replace(self, **changes)


FULL = DashboardConfig()
QUICK = DashboardConfig(epochs=2, repeats=1)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    now = _clock()
    return now[0] - start[0], now[1] - start[1]


def run_dashboard_benchmark(config: DashboardConfig = FULL, log: Callable[[str], None] = print) -> dict[str, object]:
    data = gh.make_regression(n_samples=config.n_samples, seed=config.seed)
    xy = (data.x_train, data.y_train)

    def model_fn() -> keras.Model:
        return gh.seed_mlp(data.n_features, seed=config.seed)

    plain, figure, dashed = [], [], []
    for _ in range(config.repeats):
        trainer = gh.Trainer(model_fn(), xy, optimizer=keras.optimizers.SGD(0.01), clipper=config.method,
                             threshold=config.threshold)
        trainer.advance(1)
        start = _clock()
        while not trainer.stopped and trainer.epochs_done < config.epochs:
            trainer.advance(config.redraw_every)
        plain.append(_since(start))
        start = _clock()
        gh.plot_training_progress(trainer.history, title="final").savefig(io.BytesIO(), format="png")
        figure.append(_since(start))

        dash = gh.TrainingDashboard(model_fn, xy, method=config.method, threshold=config.threshold,
                                    epochs=config.epochs, redraw_every=config.redraw_every,
                                    max_overhead=config.max_overhead)
        dash.trainer.advance(1)
        draws = dash.draw_count
        start = _clock()
        dash.start()
        dash.wait()
        dashed.append((*_since(start), dash.draw_count - draws))
        if dash.status != "finished":
            raise RuntimeError(f"the dashboard run ended {dash.status!r}: {dash.error}")
    (plain_s, plain_cpu), (figure_s, figure_cpu) = (tuple(map(min, zip(*runs, strict=True)))
                                                    for runs in (plain, figure))
    dashboard_s, _, redraws = min(dashed)
    dashboard_cpu = min(cpu for _, cpu, _ in dashed)
    log(f"dashboard: {config.repeats} repeats")
    return {"config": asdict(config), "plain_s": plain_s, "figure_s": figure_s, "dashboard_s": dashboard_s,
            "overhead": dashboard_s / (plain_s + figure_s) - 1,
            "overhead_cpu": dashboard_cpu / (plain_cpu + figure_cpu) - 1, "redraws": redraws}
