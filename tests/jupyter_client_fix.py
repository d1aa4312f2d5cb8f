"""Client-side fix for a stall when papermill runs widget cells.

After a cell that displays widgets, the shell channel's poll sometimes misses
the waiting execute_reply until its timeout runs out, so the cell "takes" the
whole execution timeout and then passes (jupyter/nbclient#312,
jupyter/jupyter_client#436). Polling in 1 s slices catches the reply within a
second. Importing this module applies the fix; kernels are untouched.
"""

import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel

_get_msg = AsyncZMQSocketChannel.get_msg


async def _sliced_get_msg(self, timeout=None):
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
        try:
            return await _get_msg(self, timeout=left)
        except Empty:
            if deadline is not None and time.monotonic() >= deadline:
                raise


if getattr(AsyncZMQSocketChannel.get_msg, "__name__", "") != "_sliced_get_msg":
    AsyncZMQSocketChannel.get_msg = _sliced_get_msg
