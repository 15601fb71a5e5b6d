"""The proxy container's main process: start nginx with the API replicas that are ready, and
keep its upstreams to them as replicas are scaled, stopped and started.

Debian bookworm's nginx (1.22) resolves an upstream's host name once, when it loads its
configuration: re-resolving it (``server api:8000 resolve``) came to open-source nginx only
in 1.27.3, and active health checks (``health_check``) are NGINX Plus's. So, as
docker-gen or consul-template would, every second this resolves the service's name with
Docker's DNS, asks each address for ``/readyz``, writes the ready ones as the upstreams'
servers and has nginx reload them (SIGHUP: new workers take new connections, old ones finish
theirs). A replica still loading its model gets no calls: its HTTP 503 nginx could retry
elsewhere, but its gRPC ``UNAVAILABLE`` comes with HTTP status 200, which nginx passes on.
Standard library only: it runs on the image's Debian Python.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

SERVICE = os.environ.get("PROXY_UPSTREAM", "api")
"""The replicas' host name: Compose's DNS answers a service's name with every container's."""
HTTP_PORT, GRPC_PORT = 8000, 8001
"""The app's ports in each replica (``LENET_PORT``, ``LENET_GRPC_PORT``)."""
EVERY_S = float(os.environ.get("PROXY_DISCOVER_SECONDS", "1"))
PROBE_TIMEOUT_S = 2.0
DROP_AFTER = 2
"""Failed probes in a row before a listed replica is dropped: one slow answer under load is no
reason to reload; a replica that stopped is refused at once, and nginx's retries
(``proxy_next_upstream``) send its calls to another meanwhile."""
LEAVING = "shutting down"
"""Why a replica whose ``/readyz`` answered 503 ``shutting_down`` is not ready: it has been
told to stop and serves on only for its LENET_SHUTDOWN_DELAY_SECONDS (``service.shutdown``),
so it is dropped at the first such answer, while it still answers what nginx sends it."""
SERVER_OPTIONS = "max_fails=0"
"""No passive ejection: nginx counts every answer it retries on (a 503 too) as a failure, so
one request shed by a busy replica (503 ``overloaded``) left that replica out for its
``fail_timeout``, its share went to the others, which shed and were left out in turn, until
nginx had no replica and answered its own HTML 502. Which replicas are listed is this
process's to decide, from ``/readyz``; nginx still sends a refused or failed request on to
another (``proxy_next_upstream``)."""
CONF_DIR = Path("/tmp/nginx")
UPSTREAM_FILES = {
    HTTP_PORT: CONF_DIR / "upstream-http.conf",
    GRPC_PORT: CONF_DIR / "upstream-grpc.conf",
}
"""What nginx.conf's ``upstream`` blocks include."""


def say(message: str) -> None:
    print(f"upstreams: {message}", file=sys.stderr, flush=True)


def resolve(name: str) -> set[str]:
    """The IPv4 addresses Docker's DNS gives ``name`` now; none while it has no container."""
    try:
        found = socket.getaddrinfo(name, HTTP_PORT, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        return set()
    return {str(address[4][0]) for address in found}


def not_ready(address: str) -> str | None:
    """Why the replica is not ready, or None when ``/readyz`` answers 200: it has loaded and
    warmed up a model."""
    url = f"http://{address}:{HTTP_PORT}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        return LEAVING if error_code(exc) == "shutting_down" else str(exc)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
        return str(exc) or type(exc).__name__


def error_code(answer: urllib.error.HTTPError) -> str | None:
    """The ``code`` of the app's error body (``{"error": {"code": ...}}``), if it is one."""
    try:
        code = json.loads(answer.read())["error"]["code"]
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return None  # cut off (IncompleteRead), not JSON, or not the app's error shape
    return code if isinstance(code, str) else None


def render(addresses: Iterable[str], port: int) -> str:
    """An upstream block's ``server`` lines for these addresses."""
    return "".join(f"server {address}:{port} {SERVER_OPTIONS};\n" for address in addresses)


def write(addresses: list[str]) -> None:
    """Both upstream files, each replaced whole (renamed into place)."""
    for port, path in UPSTREAM_FILES.items():
        temporary = path.with_suffix(".new")
        temporary.write_text(render(addresses, port))
        temporary.replace(path)


class Membership:
    """Which replicas are listed: a ready one joins at once, a listed one leaves after
    ``DROP_AFTER`` failed probes in a row, at once when it says it is ``LEAVING``, or when
    the DNS no longer names it."""

    def __init__(self) -> None:
        self.listed: set[str] = set()
        self.failures: dict[str, int] = {}

    def update(self, readiness: dict[str, str | None]) -> bool:
        """Apply one round of probes (address: why not ready, or None); True when the list
        changed."""
        before = set(self.listed)
        for address, why in readiness.items():
            self.failures[address] = 0 if why is None else self.failures.get(address, 0) + 1
            if why is None:
                self.listed.add(address)
                continue
            if address in self.listed:
                say(f"{address} failed a probe ({self.failures[address]} in a row): {why}")
            if self.failures[address] >= DROP_AFTER or why == LEAVING:
                self.listed.discard(address)
        self.listed &= set(readiness)
        self.failures = {a: n for a, n in self.failures.items() if a in readiness}
        return self.listed != before


def probe(pool: ThreadPoolExecutor) -> dict[str, str | None]:
    addresses = sorted(resolve(SERVICE))
    return dict(zip(addresses, pool.map(not_ready, addresses), strict=True))


def main() -> int:
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    membership = Membership()
    stopping = False
    nginx: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """SIGTERM (docker stop): nginx's graceful stop, SIGQUIT, lets requests finish."""
        nonlocal stopping
        stopping = True
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ThreadPoolExecutor(max_workers=8) as pool:
        while not stopping:
            changed = membership.update(probe(pool))
            if nginx is not None and nginx.poll() is not None:
                return nginx.returncode
            if changed and membership.listed:
                write(sorted(membership.listed))
                say(f"ready: {', '.join(sorted(membership.listed))}")
                if nginx is None:
                    nginx = subprocess.Popen(["nginx", "-g", "daemon off;"])
                else:
                    nginx.send_signal(signal.SIGHUP)
            elif changed:
                say(f"no replica of {SERVICE!r} is ready; keeping the last list")
            time.sleep(EVERY_S)
    return nginx.wait() if nginx is not None else 0


if __name__ == "__main__":
    sys.exit(main())
