"""``python -m training.rollback``: revoke the newest blessed version, so that the blessed
version before it answers requests that name no version again.

Services on the same model root switch back within ``LENET_POLL_SECONDS``; no restart. The
revoked version stays on disk (``?version=N`` reaches it where ``LENET_KEEP_VERSIONS`` keeps it
loaded) and ``python -m training.bless N`` blesses it again. Refused when only one version is
blessed: it would leave nothing to serve.
"""

from __future__ import annotations

import argparse
import sys

from training.blessing import RollbackRefused, add_root_option, rollback


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.rollback", description=__doc__)
    parser.add_argument("--reason", default="rolled back by hand", help="kept in blessing.json")
    add_root_option(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        revoked, previous = rollback(args.root, args.reason)
    except RollbackRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a root this account may not write to
        print(f"error: could not roll back: {exc}", file=sys.stderr)
        return 1
    print(
        f"revoked v{revoked}; v{previous}, the newest blessed version now, answers by default "
        f"on {args.root} within LENET_POLL_SECONDS"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
