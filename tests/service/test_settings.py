"""Settings: what is derived (operator threads, the default backend), what is read, what is
refused and how the refusal reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from model.artifacts import ModelRootSettings
from service import settings as settings_module
from service.settings import Settings, problems, variable


@pytest.mark.parametrize(("workers", "threads"), [(1, 8), (2, 4), (3, 2), (64, 1)])
def test_backend_threads_share_the_usable_cpus_among_worker_processes(
    workers: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "usable_cpus", lambda: 8)
    assert Settings(workers=workers).threads_per_backend == threads


def test_backend_threads_set_explicitly_win() -> None:
    assert Settings(workers=4, backend_threads=3).threads_per_backend == 3


@pytest.mark.parametrize(
    ("backends", "fastest"),
    [
        (["tensorflow", "numpy", "onnx"], "onnx"),
        (["tensorflow", "numpy"], "numpy"),
        (["tensorflow"], "tensorflow"),
        (["numpy", "onnx"], "onnx"),
    ],
)
def test_the_default_backend_is_the_fastest_loaded(backends: list, fastest: str) -> None:
    backend, reason = Settings(backends=backends).chosen_backend
    assert backend == fastest and "fastest" in reason


def test_a_default_backend_named_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENET_DEFAULT_BACKEND", "tensorflow")
    assert Settings().chosen_backend == ("tensorflow", "named by LENET_DEFAULT_BACKEND")


def test_a_default_backend_that_is_not_loaded_is_refused() -> None:
    with pytest.raises(ValueError, match="not in LENET_BACKENDS"):
        Settings(backends=["numpy"], default_backend="onnx")


def test_the_image_limits_are_read_under_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENET_MAX_IMAGES_PER_REQUEST", "12")
    monkeypatch.setenv("LENET_MAX_IMAGES_PER_CALL", "5")
    monkeypatch.setenv("LENET_MAX_REQUEST_PIXELS", "60000000")
    monkeypatch.setenv("LENET_MAX_DECODING_PIXELS", "7")
    settings = Settings()
    assert (settings.max_images_per_request, settings.max_images_per_call) == (12, 5)
    assert (settings.max_request_pixels, settings.max_decoding_pixels) == (60_000_000, 7)


def test_a_requests_pixels_must_hold_its_largest_image() -> None:
    with pytest.raises(ValueError, match="LENET_MAX_REQUEST_PIXELS must hold"):
        Settings(max_image_pixels=1000, max_request_pixels=999)
    assert Settings(max_image_pixels=1000, max_request_pixels=1000).max_request_pixels == 1000


def test_the_model_root_is_shared_with_the_training_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENET_MODEL_ROOT", "/models/lenet")
    assert Settings().model_root == ModelRootSettings().model_root == Path("/models/lenet")


def test_the_connection_and_shutdown_limits_are_read_under_their_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in [
        ("LENET_HEADER_TIMEOUT_SECONDS", "2.5"),
        ("LENET_BODY_TIMEOUT_SECONDS", "7"),
        ("LENET_MAX_CONNECTIONS", "50"),
        ("LENET_SHUTDOWN_TIMEOUT_SECONDS", "3"),
        ("LENET_BODY_MIN_BYTES_PER_SECOND", "2000"),
    ]:
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (
        settings.header_timeout_seconds,
        settings.body_timeout_seconds,
        settings.max_connections,
        settings.shutdown_timeout_seconds,
        settings.body_min_bytes_per_second,
    ) == (2.5, 7.0, 50, 3, 2000)


FLOATS = [name for name, field in Settings.model_fields.items() if field.annotation is float]


@pytest.mark.parametrize("value", ["inf", "nan"])
@pytest.mark.parametrize("name", FLOATS)
def test_a_duration_must_be_finite(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An infinite shutdown delay never drains, an infinite batch delay never answers."""
    monkeypatch.setenv(variable(name), value)
    with pytest.raises(ValidationError, match="finite number"):
        Settings()


def test_the_grpc_port_must_not_be_the_http_port() -> None:
    with pytest.raises(ValueError, match="LENET_GRPC_PORT=9000 is LENET_PORT too"):
        Settings(port=9000, grpc_port=9000)
    assert Settings(port=9000, grpc_port=0).grpc_port == 0  # gRPC off


def test_the_log_level_is_one_of_uvicorns_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENET_LOG_LEVEL", "TRACE")
    assert Settings().log_level == "trace"
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="verbose")


def problems_with(monkeypatch: pytest.MonkeyPatch, **variables: str) -> list[str]:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises((ValidationError, SettingsError)) as refused:
        Settings()
    return problems(refused.value)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"LENET_WORKERS": "0"}, ["LENET_WORKERS=0: Input should be greater than 0"]),
        (
            {"LENET_LOG_LEVEL": "loud"},
            [
                "LENET_LOG_LEVEL=loud: Input should be 'critical', 'error', 'warning', "
                "'info', 'debug' or 'trace'"
            ],
        ),
        (
            {"LENET_BACKENDS": '["onnx", "onxx"]'},
            ["LENET_BACKENDS: \"onxx\": Input should be 'tensorflow', 'numpy' or 'onnx'"],
        ),
        (
            {"LENET_BACKENDS": "onnx"},
            ['LENET_BACKENDS=onnx: must be a JSON list, such as ["onnx"]'],
        ),
        (
            {"LENET_BACKENDS": "onnx, numpy"},
            ['LENET_BACKENDS=onnx, numpy: must be a JSON list, such as ["onnx", "numpy"]'],
        ),
        (
            {"LENET_CORS_ORIGINS": "https://x.org"},
            ['LENET_CORS_ORIGINS=https://x.org: must be a JSON list, such as ["https://x.org"]'],
        ),
        (
            {"LENET_CORS_ORIGINS": '["https://x.org/"]'},
            [
                "LENET_CORS_ORIGINS: 'https://x.org/' is not an origin, scheme://host[:port] "
                "with no path (not even a trailing /), or *"
            ],
        ),
        (
            {"LENET_ROOT_PATH": "lenet"},
            [
                "LENET_ROOT_PATH: 'lenet' is not a path prefix such as /lenet: it starts with "
                "/, does not end with one, and holds no spaces, ? or #"
            ],
        ),
        (
            {"LENET_PORT": "8000", "LENET_GRPC_PORT": "8000"},
            ["LENET_GRPC_PORT=8000 is LENET_PORT too: give each its own"],
        ),
        (
            {"LENET_WORKERS": "two", "LENET_SHUTDOWN_DELAY_SECONDS": "inf"},
            [
                "LENET_SHUTDOWN_DELAY_SECONDS=inf: Input should be a finite number",
                "LENET_WORKERS=two: Input should be a valid integer, unable to parse string "
                "as an integer",
            ],
        ),
    ],
)
def test_each_problem_is_one_line_naming_its_variable(
    variables: dict[str, str], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert problems_with(monkeypatch, **variables) == expected
