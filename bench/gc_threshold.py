"""What ``LENET_GC_THRESHOLD`` gains over HTTP: the service as shipped ÷ the same with
Python's own young threshold (or ``--threshold``), over several fresh process pairs
(``bench.pairs``).

The collector's young passes come with what requests in flight hold, so the gain grows with
the connections and with bodies that parse to many objects (a JSON array is a list a row);
``/metrics``' ``python_gc_collections_total`` counts the passes a server made.

``python -m bench.gc_threshold`` prints a table, or one JSON document with ``--json``; it
needs wrk, as ``make bench`` does.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench import pairs, servers, serving


def pair(model_root: Path, threshold: int) -> list[servers.ServerSpec]:
    """Our ONNX server as shipped, and the same with the young threshold ``threshold``."""
    shipped = servers.ours(serving.PROTOCOL_BACKEND, model_root)
    env = {**shipped.env, "LENET_GC_THRESHOLD": str(threshold)}
    return [shipped, replace(shipped, name=f"{shipped.name}-gc{threshold}", env=env)]


def pythons_threshold() -> int:
    """Python's own young threshold, as a fresh interpreter has it (700 up to 3.12)."""
    asked = [sys.executable, "-c", "import gc; print(gc.get_threshold()[0])"]
    return int(subprocess.run(asked, capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> int:
    options = pairs.parser("python -m bench.gc_threshold", __doc__)
    options.add_argument(
        "--threshold", type=int, help="the second server's young threshold (Python's own)"
    )
    args = options.parse_args(argv)
    threshold = pythons_threshold() if args.threshold is None else args.threshold
    if threshold < 1:
        options.error("--threshold must be at least 1")
    return pairs.run(options, args, lambda root: pair(root, threshold))


if __name__ == "__main__":
    sys.exit(main())
