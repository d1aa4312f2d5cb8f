"""Keep TensorFlow's C++ start-up logs out of notebook outputs.

TensorFlow 2.21 prints absl log lines (CUDA probing, oneDNN notes) to the
process's stderr before its own log level applies; ipykernel captures that
file descriptor into the first cell's output, which would make committed
notebook outputs depend on the machine. Warnings raised later still show.
"""

from __future__ import annotations

import os
import sys


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with its start-up logging silenced (no-op if already imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        _quiet_python_logger()
        return
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters)
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    _quiet_python_logger()


def _quiet_python_logger() -> None:
    # tf.distribute logs an INFO line to stdout on every all-reduce; warnings still show.
    import tensorflow as tf

    tf.get_logger().setLevel("WARNING")
