"""``python -m training.bless N``: let version N answer requests that name no version.

Services on the same model root answer from their newest blessed version, so they switch to N
within ``LENET_POLL_SECONDS`` when it is the newest; no restart. Recorded in N's blessing.json.
"""

from __future__ import annotations

import argparse
import sys

from model import artifacts
from training.blessing import NotServable, add_root_option, bless, percent, serving_baseline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.bless", description=__doc__)
    parser.add_argument("version", type=int, help="the version folder's number")
    parser.add_argument("--reason", default="blessed by hand", help="kept in blessing.json")
    add_root_option(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = args.root / str(args.version)
    before = artifacts.read_blessing(folder)
    if before.blessed:
        print(f"v{args.version} is already blessed ({before.by}, {before.at}): {before.reason}")
        return 0
    try:
        bless(args.root, args.version, args.reason)
    except NotServable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a root this account may not write to
        print(f"error: could not bless v{args.version}: {exc}", file=sys.stderr)
        return 1
    accuracy = artifacts.read_json(folder / artifacts.METRICS_FILE)["test_accuracy"]
    default = serving_baseline(args.root)
    assert default is not None  # args.version is blessed now
    print(
        f"blessed v{args.version} (test accuracy {percent(accuracy)}; it was {before.status}: "
        f"{before.reason}); v{default.version} ({percent(default.test_accuracy)}) answers "
        f"by default on {args.root} within LENET_POLL_SECONDS"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
