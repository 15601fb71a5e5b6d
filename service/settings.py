"""Every knob of the service, typed and defaulted, each set by one ``LENET_*`` variable."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsConfigDict, SettingsError

from model.artifacts import ModelRootSettings
from service.cpus import usable_cpus
from service.keys import read_keys

BackendName = Literal["tensorflow", "numpy", "onnx"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
"""uvicorn's levels (``uvicorn.config.LOG_LEVELS``)."""

FASTEST_FIRST: tuple[BackendName, ...] = ("onnx", "numpy", "tensorflow")
"""The backends by their predict req/s in ``make bench`` (docs/benchmarks.md), fastest first."""
_ORIGIN = re.compile(r"https?://[^/\s?#]+")
_PREFIX = re.compile(r"(/[^/\s?#]+)+")


class Settings(ModelRootSettings):
    """Read from the environment (prefix ``LENET_``), e.g. ``LENET_DEFAULT_BACKEND=numpy``;
    ``LENET_MODEL_ROOT`` is shared with the training job (``ModelRootSettings``)."""

    model_config = SettingsConfigDict(
        env_prefix="LENET_",
        protected_namespaces=(),
        allow_inf_nan=False,  # an infinite delay or timeout never ends: a drain, a batch wait
    )

    model_name: str = "lenet"
    """The name the API reports; one model per repository root."""
    model_version: int | None = None
    """Serve only this version, blessed or not; unset serves ``keep_versions`` of those found."""
    keep_versions: int = Field(default=1, gt=0)
    """How many versions to serve side by side (``?version=N`` picks one): the default version
    and the newest of the others, candidates among them."""
    require_blessing: bool = True
    """Answer requests that name no version from the newest *blessed* version (its
    blessing.json, written by ``python -m training`` and ``python -m training.bless``); false:
    from the newest version, blessed or not."""
    poll_seconds: float = Field(default=10.0, ge=0)
    """How often to look for new versions under ``model_root``; 0 looks only at start-up."""
    backends: list[BackendName] = ["tensorflow", "numpy", "onnx"]
    """Backends to load. ``["onnx"]`` or ``["numpy"]`` serve without TensorFlow installed."""
    default_backend: BackendName | None = None
    """Answers requests that do not name a backend; unset means the fastest loaded."""

    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    """Largest request body accepted (413 above)."""
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    """Largest decoded image, width × height (413 above): stops decompression bombs."""
    max_request_pixels: int = Field(default=100_000_000, gt=0)
    """Most pixels one request's images decode to together (413 above): two of the largest
    images, where ``max_image_pixels`` alone let a request decode 256 of them. A JPEG
    decoded at a reduced scale counts at that scale."""
    max_decoding_pixels: int = Field(default=50_000_000, gt=0)
    """Most pixels this process decodes at once, across requests; more wait their turn (an
    image larger than this decodes alone). Decoding holds up to about 7 bytes a pixel (an
    RGB PNG), so the default bounds it to about 350 MB a process."""
    max_images_per_request: int = Field(default=256, gt=0)
    """Most images in one predict request (413 above)."""

    max_images_per_call: int = Field(default=64, gt=0)
    """Most rows one model call takes when batching concurrent requests: an image is one, a
    digit cut out of a photo one per view of it (``service.runtime.views``)."""
    batch_max_delay_ms: float = Field(default=0.0, ge=0)
    """How long a batch waits for more requests; 0 takes whatever is already queued."""
    queue_max_images: int = Field(default=2048, gt=0)
    """Images waiting for a backend beyond which requests get 503 and Retry-After."""

    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a connection may take to send a request's line and headers, counted from
    when it opens or its next request's first byte; then it is closed (``python -m service``)."""
    max_header_bytes: int = Field(default=64 * 1024, gt=0)
    """The most a request's line and headers may hold; a longer head is answered 431 and its
    connection closed (under ``python -m service``, while it is still coming)."""
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest wait for more of a request body; a body that stalls longer gets 408 and its
    connection is closed."""
    body_min_bytes_per_second: int = Field(default=500, gt=0)
    """A body's waits may add up to ``body_timeout_seconds`` and a second for every this
    many bytes received; a slower body gets 408 (Apache's ``MinRate`` default: a byte now
    and then no longer holds a connection for good)."""
    max_connections: int = Field(default=1000, gt=0)
    """Open connections, or requests in flight, per process beyond which a request gets 503
    (``python -m service``: uvicorn's ``limit_concurrency``)."""
    shutdown_delay_seconds: float = Field(default=0.0, ge=0)
    """On SIGTERM, how long to go on serving while readiness answers 503 ``shutting_down``
    before the drain begins: time for a load balancer that probes readiness to stop sending
    here (``service.shutdown``). SIGINT skips it."""
    shutdown_timeout_seconds: int = Field(default=20, gt=0)
    """Then, how long HTTP requests and gRPC calls in flight may take to finish before the
    process exits; compose's ``stop_grace_period`` allows for both."""

    host: str = "0.0.0.0"
    port: int = Field(default=8000, gt=0, lt=65536)
    grpc_port: int = Field(default=8001, ge=0, lt=65536)
    """The Open Inference Protocol's gRPC service, in the same process; 0 turns it off."""
    root_path: str = ""
    """The path prefix a proxy serves the HTTP API under and strips before passing requests
    on (``/lenet``): ``python -m service`` hands it to uvicorn (``--root-path``), and the
    API, its docs and the page answer as at the root. Empty: served at the root."""
    metrics: bool = True
    """``GET /metrics`` in Prometheus' text format, and the counting behind it."""
    access_log: bool = True
    """One JSON line per request on the ``service.access`` logger."""
    workers: int = Field(default=1, gt=0)
    """uvicorn worker processes for ``python -m service``; each loads its own models."""
    gc_threshold: int = Field(default=10_000, gt=0)
    """Container objects made, net of those freed, between two passes of Python's cyclic
    garbage collector over its youngest objects; Python's own is 700, which requests in
    flight pass every few requests (``service.garbage_collector``)."""
    backend_threads: int | None = Field(default=None, gt=0)
    """Operator threads of each backend, per process; unset: the CPUs this process may use
    (``service.cpus``: a container's CPU quota counts) divided among ``workers`` (set it when
    another process manager runs several copies)."""
    log_level: LogLevel = "info"
    """Of uvicorn's and the ``service`` loggers, any case; ``trace`` adds uvicorn's lines
    for each connection and ASGI message."""

    api_keys_file: Path | None = None
    """A file of API keys, one a line, or ``sha256:<hex>`` of one (``#`` starts a comment):
    set, every route but the page, the docs, the health probes and ``/metrics`` needs
    ``Authorization: Bearer <key>``, over HTTP and gRPC (401, UNAUTHENTICATED). Reread within
    a second of a change; unset, nothing checks keys."""
    metrics_require_key: bool = False
    """``GET /metrics`` needs a key too (Prometheus: ``authorization.credentials_file``)."""
    cors_origins: list[str] = []
    """Origins whose pages may call the API from a browser (CORS), e.g.
    ``["https://digits.example.org"]``; ``["*"]`` any; empty: only the service's own page."""

    @property
    def threads_per_backend(self) -> int:
        return self.backend_threads or max(1, usable_cpus() // self.workers)

    @property
    def chosen_backend(self) -> tuple[BackendName, str]:
        """The backend that answers requests naming none, and why it is that one."""
        if self.default_backend is not None:
            return self.default_backend, "named by LENET_DEFAULT_BACKEND"
        fastest = next(name for name in FASTEST_FIRST if name in self.backends)
        return fastest, "the fastest backend loaded (onnx, then numpy, then tensorflow)"

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, level: Any) -> Any:
        """``INFO`` too, as uvicorn takes it and this setting always has."""
        return level.lower() if isinstance(level, str) else level

    @field_validator("api_keys_file")
    @classmethod
    def _keys_are_readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                read_keys(path)  # start-up fails, saying why, rather than every request
            except ValueError as exc:
                raise ValueError(f"LENET_API_KEYS_FILE: {exc}") from None
        return path

    @field_validator("root_path")
    @classmethod
    def _root_path_is_a_prefix(cls, root_path: str) -> str:
        if root_path and not _PREFIX.fullmatch(root_path):
            raise ValueError(
                f"LENET_ROOT_PATH: {root_path!r} is not a path prefix such as /lenet: it "
                "starts with /, does not end with one, and holds no spaces, ? or #"
            )
        return root_path

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"LENET_CORS_ORIGINS: {origin!r} is not an origin, scheme://host[:port] "
                    "with no path (not even a trailing /), or *"
                )
        return origins

    @model_validator(mode="after")
    def _default_backend_is_loaded(self) -> Settings:
        if not self.backends:
            raise ValueError("LENET_BACKENDS must name at least one backend")
        if self.default_backend is not None and self.default_backend not in self.backends:
            raise ValueError(
                f"LENET_DEFAULT_BACKEND={self.default_backend} is not in LENET_BACKENDS"
            )
        if self.queue_max_images < self.max_images_per_request:
            raise ValueError("LENET_QUEUE_MAX_IMAGES must hold at least one full request")
        if self.max_request_pixels < self.max_image_pixels:
            raise ValueError("LENET_MAX_REQUEST_PIXELS must hold at least one largest image")
        if self.metrics_require_key and self.api_keys_file is None:
            raise ValueError("LENET_METRICS_REQUIRE_KEY needs keys: set LENET_API_KEYS_FILE")
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        # Else gRPC takes the port first (in the lifespan) and HTTP fails after the models
        # load, or, with several workers, both listen on it and share its connections. (The
        # HTTP port is never 0, gRPC's "off".)
        if self.grpc_port == self.port:
            raise ValueError(
                f"LENET_GRPC_PORT={self.grpc_port} is LENET_PORT too: give each its own"
            )
        return self


def variable(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def problems(error: ValidationError | SettingsError) -> list[str]:
    """What is wrong with the settings, a line for each problem naming its variable: for
    ``python -m service`` to print instead of pydantic's report, which names fields over
    several lines each, or pydantic-settings', which names the field it could not parse
    but not why."""
    if isinstance(error, SettingsError):
        return [_not_json(error)]
    return [_problem(details) for details in error.errors()]


def _problem(details: ErrorDetails) -> str:
    value_error = details["type"] == "value_error"  # a validator's, without pydantic's prefix
    message = (
        str(details.get("ctx", {}).get("error", details["msg"])) if value_error else details["msg"]
    )
    if not details["loc"]:  # a model validator's, which names its variables
        return message
    field, *inside = details["loc"]
    name = variable(str(field))
    if message.startswith(name):  # a field validator's
        return message
    given = details["input"]
    if inside:  # a list's item
        return f"{name}: {json.dumps(given)}: {message}"
    return f"{name}={given}: {message}"


def _not_json(error: SettingsError) -> str:
    """pydantic-settings reads a list from JSON, and names only the field when it is not:
    in its message, and the value in its cause, ``json.loads``' error."""
    field = re.search(r'field "(\w+)"', str(error))
    cause = error.__cause__
    if field is None or not isinstance(cause, json.JSONDecodeError):
        return str(error)
    example = json.dumps([item.strip() for item in cause.doc.split(",")])
    return f"{variable(field[1])}={cause.doc}: must be a JSON list, such as {example}"
