"""What metrics and the access log cost over HTTP, taken over several fresh process pairs.

``make bench`` sets ``ours-onnx`` beside ``ours-onnx-quiet`` (no metrics, no access log): one
process each, for the whole run. Their ratio then carries, besides what their code does
differently, whatever differs between two processes of the same code (where each one's
memory lies, what the caches and the scheduler make of it), and on a small shared machine
that is several percent: more than the 3 % the cost may be. ``--same`` measures exactly that,
the service as shipped against itself. ``--only metrics`` or ``--only log`` keeps one of the
two on in the first server, to see what each costs alone beside the quiet twin.

Here the two are compared over several fresh process pairs (``bench.pairs``): as shipped ÷
quiet, unless asked otherwise.

``python -m bench.observability_http`` prints a table, or one JSON document with ``--json``;
it needs wrk, as ``make bench`` does.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from bench import pairs, servers, serving

TWIN = "-twin"
"""``--same``: the second server of a pair, as shipped too."""
TURNS_OFF = {"metrics": "LENET_ACCESS_LOG", "log": "LENET_METRICS"}
"""``--only``: the part the first server keeps, and the setting that turns the other off."""


def pair(model_root: Path, same: bool, only: str | None = None) -> list[servers.ServerSpec]:
    """Our ONNX server as shipped and its quiet twin, or (``same``) a second as shipped;
    with ``only``, the first keeps only that part (``TURNS_OFF``)."""
    shipped = servers.ours(serving.PROTOCOL_BACKEND, model_root)
    other = replace(shipped, name=shipped.name + TWIN) if same else servers.quiet(shipped)
    if only is not None:
        env = {**shipped.env, TURNS_OFF[only]: "false"}
        shipped = replace(shipped, name=f"{shipped.name}-{only}-only", env=env)
    return [shipped, other]


def main(argv: list[str] | None = None) -> int:
    options = pairs.parser("python -m bench.observability_http", __doc__)
    compared = options.add_mutually_exclusive_group()
    compared.add_argument("--same", action="store_true", help="as shipped against itself")
    compared.add_argument("--only", choices=TURNS_OFF, help="one part on against quiet")
    args = options.parse_args(argv)
    return pairs.run(options, args, lambda root: pair(root, args.same, args.only))


if __name__ == "__main__":
    sys.exit(main())
