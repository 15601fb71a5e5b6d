"""A request's path as the app's routes see it, for what decides by path beside the router.

Served under a prefix (``uvicorn service.app:app --root-path /lenet`` behind a proxy that
strips ``/lenet``), the ASGI server puts the prefix in the scope's ``root_path`` and keeps it
at the front of ``path`` too. Starlette routes on the path without it; so must the error
shape, the paths open without an API key, admission and the request metrics, or under a
prefix a ``/v2`` error would come back in ``/v1``'s shape and the probes would ask for a key.
"""

from __future__ import annotations

from starlette.types import Scope

V2_PREFIX = "/v2"
LIVENESS = frozenset({"/healthz", "/v2/health/live"})
"""The liveness probes' paths: answered even beyond the connection cap (``connections``)."""


def app_path(scope: Scope) -> str:
    """The request's path without the prefix the app is served under, as Starlette routes
    on it. A mount moves its own prefix into ``root_path`` as it routes, and keeps the app's
    in ``app_root_path``, which is the one to take off, before routing or after."""
    path: str = scope["path"]
    root: str = scope.get("app_root_path", scope.get("root_path", ""))
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    return rest if not rest or rest[0] == "/" else path


def is_v2(path: str) -> bool:
    """Whether ``path`` (an ``app_path``) belongs to the Open Inference Protocol's REST API."""
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")
