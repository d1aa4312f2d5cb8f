"""Benchmarks for gradclip_helpers: ``python -m benchmarks`` (or ``make bench``).

Not part of the test suite (timings vary between machines); ``tests/test_benchmarks.py``
only runs the functions on tiny sizes and checks the shape of what they write.

- ``steps``: per-step time of ``gh.train()`` against ``model.fit`` for every
  registered clipper, the cost of clipping, and the cost of recording norms.
- ``notebooks``: wall time and peak memory of a papermill run of each notebook.
- ``report``: the machine description, the JSON file and the markdown tables.
"""
