"""Settings: what is derived (operator threads, the default backend) and what is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model.artifacts import ModelRootSettings
from service.settings import Settings

CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize("workers", [1, 2, 64])
def test_backend_threads_share_the_cpus_among_worker_processes(workers: int) -> None:
    assert Settings(workers=workers).threads_per_backend == max(1, CPUS // workers)


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
    settings = Settings()
    assert (settings.max_images_per_request, settings.max_images_per_call) == (12, 5)


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
    ]:
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (
        settings.header_timeout_seconds,
        settings.body_timeout_seconds,
        settings.max_connections,
        settings.shutdown_timeout_seconds,
    ) == (2.5, 7.0, 50, 3)
