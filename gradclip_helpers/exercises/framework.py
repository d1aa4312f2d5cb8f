"""The checker framework: verdicts, the ``@checker`` decorator and helpers to call and compare answers.

A notebook's checkers (``nbNN_<notebook>.py``) are plain functions decorated with
``@checker``: they return their success message, or stop with ``fail(hint)``.
The decorator turns that into a ``CheckResult``, prints the verdict and never
raises, so "Run All" never stops at an exercise. The learner's code is run
through ``call``, which turns ``NotImplementedError`` into "Not attempted yet"
and any other error into a friendly "your code raised ...".

This module holds no checks of its own. Whether the package computes the right
*answers* is tested in ``tests/test_exercises.py``, not asserted here: a
failing assert inside a checker would tell the learner "Not yet" for the
package's bug.

>>> @checker
... def check_double(double) -> str:
...     if call(double, 2) != 4:
...         fail("double 2 is 4.")
...     return "2 doubled is 4."
>>> check_double(lambda x: 2 * x).passed
Correct: 2 doubled is 4.
True
>>> _ = check_double(lambda x: x + 1)
Not yet: double 2 is 4.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import tensorflow as tf

NOT_ATTEMPTED = ("Not attempted yet: put your code or answer in this cell, in place of "
                 "`raise NotImplementedError` or `None`, and run it again.")


@dataclass(frozen=True)
class CheckResult:
    """What a checker decided: ``passed`` and the ``message`` it printed."""

    passed: bool
    message: str

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's result: the checker has printed the verdict already."""


class _Verdict(Exception):
    """Raised inside a checker to stop with a verdict."""

    def __init__(self, passed: bool, message: str):
        super().__init__(message)
        self.result = CheckResult(passed, message)


class NotAttempted(Exception):
    """Raise inside a checker when the answer is still the exercise's placeholder."""


def fail(message: str) -> NoReturn:
    """Stop the checker with ``Not yet: <message>``."""
    raise _Verdict(False, f"Not yet: {message}")


def checker(fn: Callable[..., str]) -> Callable[..., CheckResult]:
    """Turn a check that returns its success message (or calls ``fail``) into a checker that never raises."""

    @functools.wraps(fn)
    def wrapper(answer, *args, **kwargs) -> CheckResult:
        try:
            if answer is None:
                raise NotAttempted
            result = CheckResult(True, f"Correct: {fn(answer, *args, **kwargs)}")
        except NotAttempted:
            result = CheckResult(False, NOT_ATTEMPTED)
        except _Verdict as verdict:
            result = verdict.result
        except Exception as err:  # noqa: BLE001 - never stop "Run All"
            result = CheckResult(False, f"Not yet: the checker could not use your answer ({_describe(err)}).")
        print(result.message)
        return result

    return wrapper


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def call(fn: Callable, *args, case: str = "", hint: str = ""):
    """Call the learner's ``fn``; turn NotImplementedError and other errors into verdicts."""
    if not callable(fn):
        fail(f"expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args)
    except NotImplementedError:
        raise NotAttempted from None
    except Exception as err:  # noqa: BLE001
        where = f" on {case}" if case else ""
        fail(f"your code raised {_describe(err)}{where}." + (f" Hint: {hint}" if hint else ""))


def as_array(x, what: str = "your result") -> np.ndarray:
    """``x`` (a number, array, tensor or IndexedSlices) as a float64 array, or a verdict naming ``what``."""
    try:
        if isinstance(x, tf.IndexedSlices):
            x = tf.convert_to_tensor(x)
        return np.asarray(x, dtype=np.float64)
    except Exception:  # noqa: BLE001
        fail(f"{what} should be a number, an array or a tensor, got {type(x).__name__}.")


def as_arrays(grads, n: int, what: str = "your function") -> list:
    """A gradient list as numpy arrays (None kept), checking its length."""
    if isinstance(grads, (tf.Tensor, np.ndarray)) or not isinstance(grads, (list, tuple)):
        fail(f"{what} should return a list with one entry per gradient, got {type(grads).__name__}.")
    if len(grads) != n:
        fail(f"{what} returned {len(grads)} entries for {n} gradients: return one entry per gradient "
             "(None where the gradient is None).")
    return [None if g is None else as_array(g, "each gradient") for g in grads]


def same(a: Sequence, b: Sequence, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when two gradient lists (numpy arrays / tensors / None) agree entry by entry."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is None:
            continue
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape or not np.allclose(x, y, rtol=rtol, atol=atol):
            return False
    return True
