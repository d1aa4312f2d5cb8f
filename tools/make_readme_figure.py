"""Regenerate docs/headline.png, the README's headline figure, from the package.

Usage: python tools/make_readme_figure.py [OUTPUT.png]   (or: make figure)

The runs are notebook 04's comparison with its default parameters: the seed
MLP on unscaled regression targets, plain SGD at 0.01, mini-batches of 32,
40 epochs, no clipping against value clipping at 1 and per-tensor and global
norm clipping at 5. The figure is ``gh.plot_loss`` of those histories; only
the step axis is made logarithmic, so the first steps, where the unclipped
run breaks, are as visible as the 640 that follow. The checks below fail the
command if the picture would stop telling the truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import gradclip_helpers as gh  # first: imports TensorFlow quietly

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "headline.png"
SEED, EPOCHS, LEARNING_RATE = 0, 40, 0.01
ARMS = {"none": None, "value": 1.0, "norm": 5.0, "global_norm": 5.0}


def make_figure():
    """Train the four runs and return ``(figure, histories)``."""
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    data = gh.make_regression(n_samples=1000, seed=SEED)
    histories = {
        method: gh.train(gh.seed_mlp(data.n_features, seed=SEED), (data.x_train, data.y_train),
                         optimizer=keras.optimizers.SGD(LEARNING_RATE), clipper=method, threshold=threshold,
                         epochs=EPOCHS, batch_size=32, seed=SEED, progress=False)
        for method, threshold in ARMS.items()
    }
    broke = histories["none"].diverged_at
    clipped = {m: h for m, h in histories.items() if m != "none"}
    assert broke is not None and broke < 20, "the unclipped run no longer breaks early"
    assert not any(h.diverged for h in clipped.values()), "a clipped run diverged"
    start = float(np.mean(histories["global_norm"].loss[:16]))
    assert all(h.final_loss < start / 10 for h in clipped.values()), "a clipped run did not converge"
    fig = gh.plot_loss(histories, per="step",
                       title=f"Unclipped SGD is non-finite at step {broke}; every clipped run converges")
    ax = fig.axes[0]
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, len(histories["global_norm"].loss))
    ax.set_xlabel("optimizer step (log scale after 10)")
    return fig, histories


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else OUTPUT
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, histories = make_figure()
    fig.savefig(out, dpi=100, metadata={"Software": None})  # no version stamp: same bytes on every run
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({out.stat().st_size // 1024} kB)")
    broke = histories["none"].diverged_at
    if f"non-finite by step {broke}" not in (ROOT / "README.md").read_text():
        print(f"README.md: update the sentence under the figure: the unclipped run is non-finite at step {broke}")


if __name__ == "__main__":
    main(sys.argv[1:])
