"""The benchmark harness: ``python -m bench`` (``make bench``) measures the service over HTTP
against a framework ceiling and a naive Keras service, the backends without HTTP against a bare
onnxruntime session and this machine's GEMM rate, training epochs, and cold starts; it writes
``bench/results.json`` and ``docs/benchmarks.md``.

Every part runs in its own processes, so one part's imports and thread pools never colour
another's numbers, and every figure is compared only with figures from the same run: on a
shared machine absolute numbers swing 2–3× between runs, ratios much less.
"""
