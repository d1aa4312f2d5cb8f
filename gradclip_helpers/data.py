"""Data sets for the course: a seeded synthetic regression and one small real one.

Nothing is downloaded: the synthetic data is generated with scikit-learn's
``make_regression`` and the real data is scikit-learn's bundled diabetes set.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn import datasets


class RegressionData(NamedTuple):
    """A train/test split of a regression problem, as float32 arrays.

    ``y`` arrays have shape ``(n, 1)`` so they match a ``Dense(1)`` output.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def target_variance(self) -> float:
        """Variance of the training targets: the MSE of predicting the mean."""
        return float(np.var(self.y_train))


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float) -> RegressionData:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n_test = int(round(len(x) * test_fraction))
    n_train = len(x) - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(f"{len(x)} samples cannot be split with test_fraction={test_fraction}")
    x = x.astype(np.float32)
    y = y.astype(np.float32).reshape(-1, 1)
    return RegressionData(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def make_regression(
    n_samples: int = 1000,
    n_features: int = 20,
    n_informative: int = 10,
    noise: float = 0.1,
    target_scale: float = 1.0,
    standardize_targets: bool = False,
    test_fraction: float = 0.5,
    seed: int = 0,
) -> RegressionData:
    """A seeded linear regression problem whose raw targets make plain SGD explode.

    ``x ~ N(0, 1)``, ``y = x @ w + N(0, noise^2)`` with ten weights drawn from
    ``100 * U(0, 1)``, so ``std(y)`` is about 180 (scikit-learn's
    ``make_regression``). ``target_scale`` multiplies ``y``;
    ``standardize_targets=True`` rescales it to mean 0, variance 1 on the
    training split, the simplest fix for the explosion.

    >>> data = make_regression(n_samples=100, seed=1)
    >>> data.x_train.shape, data.y_train.shape, data.x_train.dtype.name
    ((50, 20), (50, 1), 'float32')
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if not 1 <= n_informative <= n_features:
        raise ValueError(
            f"n_informative must be in [1, n_features={n_features}], got {n_informative!r}"
        )
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    x, y = datasets.make_regression(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        noise=noise,
        random_state=seed,
    )
    data = _split(x, y * target_scale, test_fraction)
    return standardize(data) if standardize_targets else data


def standardize(data: RegressionData) -> RegressionData:
    """Rescale targets to mean 0 and variance 1 using training statistics only."""
    mean, std = data.y_train.mean(), data.y_train.std()
    return data._replace(y_train=(data.y_train - mean) / std, y_test=(data.y_test - mean) / std)


def load_diabetes(test_fraction: float = 0.25, seed: int = 0) -> RegressionData:
    """scikit-learn's bundled diabetes data (442 patients, 10 features), shuffled and split.

    The targets (disease progression, 25 to 346) are left in their units, so
    like ``make_regression`` they punish an unclipped, large learning rate.

    >>> load_diabetes().x_train.shape
    (332, 10)
    """
    x, y = datasets.load_diabetes(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    return _split(x[order], y[order], test_fraction)


def adding_problem(n_samples: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015's variant).

    Math: ``y = u_i + u_j`` with ``u ~ U(0, 1)^length``, one marker at
    ``i ~ U{0 .. length/2 - 1}`` and one at ``j ~ U{length/2 .. length - 1}``.
    Each sequence has two channels per time step: ``x[:, t, 0] = u_t`` and
    ``x[:, t, 1] = 1`` at the two marked steps, else 0. The answer depends on
    inputs up to ``length`` steps before the end, so a recurrent net must carry
    them through time. Predicting the mean scores ``MSE = Var(y) = 1/6``.

    Args:
      n_samples: number of sequences (at least 1).
      length: time steps per sequence, ``T >= 2``.
      seed: seed of ``numpy.random.default_rng``.

    Returns:
      ``(x, y)``: float32 arrays of shapes ``(n_samples, length, 2)`` and ``(n_samples, 1)``.

    >>> x, y = adding_problem(4, length=10, seed=0)
    >>> x.shape, y.shape, x[:, :, 1].sum(axis=1).tolist()
    ((4, 10, 2), (4, 1), [2.0, 2.0, 2.0, 2.0])
    >>> bool(np.allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1)))
    True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(f"length must be an integer >= 2, got {length!r}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n_samples, length)).astype(np.float32)
    rows = np.arange(n_samples)
    first = rng.integers(0, length // 2, size=n_samples)
    second = rng.integers(length // 2, length, size=n_samples)
    markers = np.zeros((n_samples, length), np.float32)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).reshape(-1, 1)
    return np.stack([values, markers], axis=-1), y.astype(np.float32)
